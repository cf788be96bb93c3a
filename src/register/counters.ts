/** Flows counted by path, as the preload made them (shown by `byway stat` and in the control socket's answers). */
export interface PathCounters {
  tcpConnect: { bypass: number; kernel: number };
  tcpListen: { bypass: number; kernel: number };
  tcpAccepted: { bypass: number };
  tlsConnect: { bypass: number; kernel: number };
  udpSocket: { bypass: number; kernel: number };
  /** Flows the strategy sent to the bypass path that byway could not make (each also fails with its reason). */
  bypassFailures: number;
  lastFailure: string;
  /** Datagrams a socket sent on its path to an address the rules give to the other path (a socket has one path). */
  udpOtherPath: number;
  lastOtherPath: string;
}

export function newPathCounters(): PathCounters {
  return {
    tcpConnect: { bypass: 0, kernel: 0 },
    tcpListen: { bypass: 0, kernel: 0 },
    tcpAccepted: { bypass: 0 },
    tlsConnect: { bypass: 0, kernel: 0 },
    udpSocket: { bypass: 0, kernel: 0 },
    bypassFailures: 0,
    lastFailure: '',
    udpOtherPath: 0,
    lastOtherPath: '',
  };
}
