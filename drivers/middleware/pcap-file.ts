/**
 * pcapFile: the pcap middleware writing to a file through node:fs. Every chunk is written synchronously
 * (`writeSync`) as it is produced, so no frame is lost if the process stops without closing the driver; the
 * cost is one write(2) per frame, acceptable for a debugging tap. Closing the driver closes the file.
 * Opening the file may throw Node's fs errors (ENOENT, EACCES...).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { FrameDriver } from '../types.js';
import { pcap, type PcapDriver } from './pcap.js';

export interface PcapFileOptions {
  snaplen?: number;
  epochMs?: number;
}

export function pcapFile(inner: FrameDriver, path: string, opts: PcapFileOptions = {}): PcapDriver {
  const fd = openSync(path, 'w');
  let open = true;
  const closeFile = (): void => {
    if (!open) return;
    open = false;
    closeSync(fd);
  };
  const writeAll = (chunk: Uint8Array): void => {
    let off = 0;
    while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
  };
  try {
    return pcap(inner, { ...opts, sink: writeAll, onClose: closeFile });
  } catch (e) {
    closeFile();
    throw e;
  }
}
