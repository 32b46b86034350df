// Screenshots of the X display (xwd, from x11-apps), as PNG. WebKitWebDriver's own screenshot
// never answers on the app's own pages (tauri://), so the tests take every picture this way:
// what the display shows, whichever page is up.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

/** Writes what the display shows now to `file` (PNG). */
export function screenshotDisplay(file) {
  const xwd = execFileSync('xwd', ['-root', '-silent'], { maxBuffer: 64 * 1024 * 1024 });
  writeFileSync(file, png(decodeXwd(xwd)));
}

/** An XWD dump (ZPixmap, 24 or 32 bits a pixel, true colour) as width, height and RGB rows. */
export function decodeXwd(buf) {
  const field = (i) => buf.readUInt32BE(i * 4);
  const [headerSize, , format, , width, height, , byteOrder] = [0, 1, 2, 3, 4, 5, 6, 7].map(field);
  const bitsPerPixel = field(11);
  const bytesPerLine = field(12);
  const masks = [field(14), field(15), field(16)];
  const colours = field(19);
  if (format !== 2 || (bitsPerPixel !== 32 && bitsPerPixel !== 24)) {
    throw new Error(`xwd: format ${format} at ${bitsPerPixel} bits a pixel is not supported`);
  }
  const data = headerSize + colours * 12;
  const shift = (mask) => 31 - Math.clz32(mask & -mask);
  const channels = masks.map((mask) => [mask, shift(mask), mask >>> shift(mask)]);
  const step = bitsPerPixel / 8;
  const rgb = Buffer.alloc(height * (width * 3 + 1));
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      const at = data + y * bytesPerLine + x * step;
      let pixel = 0;
      for (let b = 0; b < step; b++) pixel |= buf[at + b] << (8 * (byteOrder === 0 ? b : step - 1 - b));
      channels.forEach(([mask, s, max], c) => {
        rgb[row + 1 + x * 3 + c] = Math.round((((pixel & mask) >>> s) * 255) / max);
      });
    }
  }
  return { width, height, rgb };
}

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, body) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])));
  return Buffer.concat([head, body, crc]);
}

/** A PNG of RGB rows, each led by its filter byte (0). */
export function png({ width, height, rgb }) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(rgb)), chunk('IEND', Buffer.alloc(0))]);
}
