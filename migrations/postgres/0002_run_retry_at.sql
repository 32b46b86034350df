-- When an agent reports when it can work again (a quota's reset time), the run keeps it so a
-- retry policy can wait for it. New run states (auth_required, quota_exceeded, …) are TEXT
-- values and need no change.
ALTER TABLE runs ADD COLUMN retry_at TIMESTAMPTZ;
