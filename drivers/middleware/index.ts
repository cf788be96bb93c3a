/** Middleware: FrameDrivers that wrap another and pass through what they do not change. */
export {
  pcap,
  pcapFileHeader,
  pcapRecord,
  linktypeFor,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  PCAP_MAGIC_MICROS,
  PCAP_MAGIC_NANOS,
  type PcapOptions,
  type PcapDriver,
} from './pcap.js';
export { pcapFile, type PcapFileOptions } from './pcap-file.js';
export { readPcap, type PcapContents, type PcapRecord } from './pcap-reader.js';
export { faults, TX_RETRY_MS, type FaultConfig, type FaultOptions, type FaultCounters, type FaultDriver } from './faults.js';
export { relay, RelayDriver, type RelayOptions, type RelayCounters } from './relay.js';
