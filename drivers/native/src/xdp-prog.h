/* The XDP program assembler and builder (xdp-prog.c), used by the AF_XDP driver (xdp.c). */
#ifndef BYWAY_XDP_PROG_H
#define BYWAY_XDP_PROG_H
#include <stdbool.h>
#include <stdint.h>
#include <linux/bpf.h>

#define XDP_ASM_MAX 256
typedef struct {
  struct bpf_insn ins[XDP_ASM_MAX];
  int n;
  bool overflow; /* more than XDP_ASM_MAX instructions: the program is refused, never loaded cut short */
  int label_at[18];
  int jump_label[XDP_ASM_MAX]; /* -1: not a label jump */
} xdp_asm;

/*
 * Assemble the program into `a` (check `a->overflow` before loading). shared: the shared-address program (the
 * flow map `flow_fd`), else own-address for `ip_host` (and IPv6 by the address map `addr_fd` when >= 0, router
 * advertisements with `ra`); shared6: shared mode steers IPv6 too; drop_unbound: a flow whose queue has no socket
 * is dropped, not passed (a cluster's program), and counted per queue in the array map `unbound_fd` (u64 values;
 * -1: not counted).
 */
void xdp_build_program(xdp_asm *a, bool shared, uint32_t ip_host, int addr_fd, bool ra, bool shared6, int xsk_fd, int flow_fd, bool drop_unbound, int unbound_fd);
#endif
