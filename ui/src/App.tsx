/**
 * The application shell: header (product name, theme toggle), the board as
 * the main landmark, and a footer with the server's connection status.
 */
import { Board } from './board/Board.tsx';
import { StatusLine } from './StatusLine.tsx';
import { useTheme } from './theme.ts';
import { ThemeToggle } from './ThemeToggle.tsx';

export function App() {
  const { theme, toggle } = useTheme();
  return (
    <div className="app">
      <header className="app-header">
        <h1 className="app-title">Taskyard</h1>
        <ThemeToggle theme={theme} onToggle={toggle} />
      </header>
      <main className="app-main" aria-label="Board">
        <Board />
      </main>
      <footer className="app-footer">
        <StatusLine />
      </footer>
    </div>
  );
}
