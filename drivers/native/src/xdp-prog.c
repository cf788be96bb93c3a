/*
 * The XDP programs byway attaches (no libbpf: raw instructions, assembled here; xdp.c loads and attaches them).
 *
 * - own-address: redirect to the socket every IPv4 packet whose destination is byway's address and every ARP
 *   packet whose target is byway's address, and, with IPv6 on, every IPv6 packet to one of byway's IPv6
 *   addresses (a hash map the driver keeps equal to the stack's address set: SLAAC adds to it at run time), the
 *   neighbor solicitations and advertisements whose target is one of them, and router advertisements and
 *   redirects to all-nodes; pass everything else to the kernel.
 * - shared-address: redirect an IPv4 packet only when (destination address, protocol, destination port) is in
 *   the `flows` hash map (ICMP: echo replies keyed by their identifier, errors by the protocol and source port
 *   they quote); everything else, ARP included, goes to the kernel. Fragments always go to the kernel (a
 *   non-first fragment carries no port). With IPv6, the same for IPv6 unicast packets, keyed with address 0 (NDP,
 *   like ARP, stays with the kernel).
 * Both fall back to XDP_PASS when the socket slot is empty (bpf_redirect_map flags), except a shared-address
 * program attached with no socket (a cluster's): its flows are byway's, so it drops them then (drop_unbound), and
 * counts each drop per receive queue (unbound_fd: the queues whose worker is gone show in the cluster's stats).
 */
#include "xdp-prog.h"
#include <arpa/inet.h>
#include <string.h>
#include <linux/if_ether.h>

/* ---- a tiny assembler with labels ---- */

typedef xdp_asm bpf_asm;
#define MAXI XDP_ASM_MAX

static void emit(bpf_asm *a, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  if (a->n >= MAXI) {
    a->overflow = true;
    return;
  }
  a->jump_label[a->n] = -1;
  a->ins[a->n++] = (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}
static void jmp(bpf_asm *a, uint8_t code, uint8_t dst, uint8_t src, int32_t imm, int label) {
  emit(a, code, dst, src, 0, imm);
  a->jump_label[a->n - 1] = label;
}
static void label(bpf_asm *a, int l) { a->label_at[l] = a->n; }
static void resolve(bpf_asm *a) {
  if (a->overflow) return;
  for (int i = 0; i < a->n; i++)
    if (a->jump_label[i] >= 0) a->ins[i].off = (int16_t)(a->label_at[a->jump_label[i]] - (i + 1));
}

#define R0 0
#define R1 1
#define R2 2
#define R3 3
#define R4 4
#define R5 5
#define R6 6
#define R7 7
#define R8 8
#define R9 9
#define R10 10
#define LDX(sz, d, s, o) emit(a, BPF_LDX | BPF_MEM | (sz), d, s, o, 0)
#define STX(sz, d, s, o) emit(a, BPF_STX | BPF_MEM | (sz), d, s, o, 0)
#define ST(sz, d, o, i) emit(a, BPF_ST | BPF_MEM | (sz), d, 0, o, i)
#define MOVR(d, s) emit(a, BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOVI(d, i) emit(a, BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define ADDI(d, i) emit(a, BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define ADDR(d, s) emit(a, BPF_ALU64 | BPF_ADD | BPF_X, d, s, 0, 0)
#define ANDI(d, i) emit(a, BPF_ALU64 | BPF_AND | BPF_K, d, 0, 0, i)
#define LSHI(d, i) emit(a, BPF_ALU64 | BPF_LSH | BPF_K, d, 0, 0, i)
#define JGTR(d, s, l) jmp(a, BPF_JMP | BPF_JGT | BPF_X, d, s, 0, l)
#define JEQI(d, i, l) jmp(a, BPF_JMP | BPF_JEQ | BPF_K, d, 0, i, l)
#define JNEI(d, i, l) jmp(a, BPF_JMP | BPF_JNE | BPF_K, d, 0, i, l)
#define JLTI(d, i, l) jmp(a, BPF_JMP | BPF_JLT | BPF_K, d, 0, i, l)
#define JNE32I(d, i, l) jmp(a, BPF_JMP32 | BPF_JNE | BPF_K, d, 0, i, l)
#define JA(l) jmp(a, BPF_JMP | BPF_JA, 0, 0, 0, l)
#define CALL(f) emit(a, BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() emit(a, BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LDMAP(d, fd) (emit(a, BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), emit(a, 0, 0, 0, 0, 0))

enum { L_PASS, L_ARP, L_REDIRECT, L_PORTS, L_LOOKUP, L_IP6, L_SOLICITED, L_TARGET, L_ALLNODES, L_PORTS6, L_QUOTE, L_QPORT, L_QUOTE6, L_QPORT6, L_DONE, L_DROPPED };

/* The four bytes b0..b3 as a 32-bit load of them from a packet (what the program compares against). */
static int32_t wire_word(uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3) {
  union { uint8_t b[4]; int32_t w; } u = {{b0, b1, b2, b3}};
  return u.w;
}

/* Copy the 16 bytes at R7 + off (checked by the caller) to the stack at fp-16 and look them up in addr_fd:
   R0 is the value pointer or 0. Clobbers R1-R5. */
static void lookup_addr6(bpf_asm *a, int16_t off, int addr_fd) {
  for (int i = 0; i < 4; i++) {
    LDX(BPF_W, R5, R7, (int16_t)(off + 4 * i));
    STX(BPF_W, R10, R5, (int16_t)(-16 + 4 * i));
  }
  LDMAP(R1, addr_fd);
  MOVR(R2, R10);
  ADDI(R2, -16);
  CALL(BPF_FUNC_map_lookup_elem);
}

/*
 * struct xdp_md: data @0, data_end @4, data_meta @8, ingress_ifindex @12, rx_queue_index @16.
 * addr_fd (own mode, >= 0 when byway has IPv6): the hash map of byway's IPv6 addresses (16-byte keys), which the
 * driver keeps equal to the stack's address set (tentative ones included: DAD needs their NDP). Redirected:
 * IPv6 to one of them; a neighbor solicitation to a solicited-node group (ff02::1:ffXX:XXXX) or all-nodes, and
 * an advertisement to all-nodes, whose target is one of them (DAD, resolution); with ra, router advertisements
 * and redirects to all-nodes (RFC 4861 6.3.4, 8.3: router discovery and SLAAC). Only when ICMPv6 follows the
 * fixed header directly (NDP has no extension headers in practice; what has them stays with the kernel).
 * shared6 (shared mode): IPv6 flows too, keyed with address 0 (any unicast address of the interface: the kernel
 * keeps them all, and NDP) and protocol 6, 17 or 58 (ICMPv6 echo replies by identifier); only when TCP, UDP or
 * ICMPv6 follows the fixed header directly (extension headers, fragments included, go to the kernel).
 */
void xdp_build_program(bpf_asm *a, bool shared, uint32_t ip_host, int addr_fd, bool ra, bool shared6, int xsk_fd, int flow_fd, bool drop_unbound, int unbound_fd) {
  memset(a, 0, sizeof *a);
  bool has6 = (!shared && addr_fd >= 0) || (shared && shared6);
  int32_t ip_raw = (int32_t)htonl(ip_host); /* the address as a 32-bit load of its wire bytes */
  MOVR(R6, R1);
  LDX(BPF_W, R2, R1, 0);
  LDX(BPF_W, R3, R1, 4);
  MOVR(R4, R2);
  ADDI(R4, 14);
  JGTR(R4, R3, L_PASS);
  LDX(BPF_H, R5, R2, 12); /* EtherType */
  if (!shared) JEQI(R5, htons(ETH_P_ARP), L_ARP);
  if (has6) JEQI(R5, htons(ETH_P_IPV6), L_IP6);
  JNEI(R5, htons(ETH_P_IP), L_PASS);
  MOVR(R4, R2);
  ADDI(R4, 34);
  JGTR(R4, R3, L_PASS);
  if (!shared) {
    LDX(BPF_W, R5, R2, 30); /* IPv4 destination */
    JNE32I(R5, ip_raw, L_PASS);
    JA(L_REDIRECT);
    label(a, L_ARP);
    MOVR(R4, R2);
    ADDI(R4, 42);
    JGTR(R4, R3, L_PASS);
    LDX(BPF_W, R5, R2, 38); /* ARP target protocol address (RFC 826) */
    JNE32I(R5, ip_raw, L_PASS);
    if (has6) {
      JA(L_REDIRECT);
      label(a, L_IP6);
      MOVR(R7, R2); /* callee-saved across the map lookups */
      MOVR(R8, R3);
      MOVR(R4, R7);
      ADDI(R4, 55); /* the fixed header and one byte after it */
      JGTR(R4, R8, L_PASS);
      lookup_addr6(a, 38, addr_fd); /* the destination */
      JNEI(R0, 0, L_REDIRECT);
      /* Link-scope multicast with ICMPv6 right behind the header: ff02:0000:0000:0000 ... */
      LDX(BPF_W, R5, R7, 38);
      JNE32I(R5, wire_word(0xff, 0x02, 0, 0), L_PASS);
      LDX(BPF_W, R5, R7, 42);
      JNE32I(R5, 0, L_PASS);
      LDX(BPF_B, R5, R7, 20); /* Next Header */
      JNEI(R5, 58, L_PASS);
      LDX(BPF_B, R9, R7, 54); /* ICMPv6 type */
      LDX(BPF_W, R5, R7, 46);
      JNE32I(R5, wire_word(0, 0, 0, 1), L_ALLNODES);
      LDX(BPF_B, R5, R7, 50); /* ff02::1:ffXX:XXXX: a neighbor solicitation */
      JNEI(R5, 0xff, L_PASS);
      JEQI(R9, 135, L_TARGET);
      JA(L_PASS);
      label(a, L_ALLNODES);
      JNE32I(R5, 0, L_PASS);
      LDX(BPF_W, R5, R7, 50);
      JNE32I(R5, wire_word(0, 0, 0, 1), L_PASS); /* ff02::1 */
      if (ra) {
        JEQI(R9, 134, L_REDIRECT);
        JEQI(R9, 137, L_REDIRECT);
      }
      JEQI(R9, 135, L_TARGET);
      JNEI(R9, 136, L_PASS);
      label(a, L_TARGET);
      MOVR(R4, R7);
      ADDI(R4, 78); /* NS/NA: the target address at 62..77 */
      JGTR(R4, R8, L_PASS);
      lookup_addr6(a, 62, addr_fd);
      JEQI(R0, 0, L_PASS);
    }
  } else {
    LDX(BPF_H, R5, R2, 20); /* flags + fragment offset: MF or an offset means a fragment */
    ANDI(R5, htons(0x3fff));
    JNEI(R5, 0, L_PASS);
    LDX(BPF_B, R5, R2, 14);
    ANDI(R5, 0x0f);
    LSHI(R5, 2); /* IHL in bytes, 0..60 */
    JLTI(R5, 20, L_PASS);
    MOVR(R7, R2);
    ADDI(R7, 14);
    ADDR(R7, R5); /* the transport header */
    MOVR(R4, R7);
    ADDI(R4, 8);
    JGTR(R4, R3, L_PASS);
    LDX(BPF_B, R8, R2, 23); /* protocol */
    LDX(BPF_W, R9, R2, 30); /* destination address */
    STX(BPF_W, R10, R9, -8);
    STX(BPF_B, R10, R8, -2);
    ST(BPF_B, R10, -1, 0);
    JEQI(R8, 6, L_PORTS);
    JEQI(R8, 17, L_PORTS);
    JNEI(R8, 1, L_PASS);
    LDX(BPF_B, R5, R7, 0); /* ICMP type */
    JEQI(R5, 3, L_QUOTE); /* destination unreachable (fragmentation needed among them) */
    JEQI(R5, 11, L_QUOTE); /* time exceeded */
    JEQI(R5, 12, L_QUOTE); /* parameter problem */
    JNEI(R5, 0, L_PASS); /* an echo reply belongs to a flow by its identifier */
    LDX(BPF_H, R5, R7, 4);
    STX(BPF_H, R10, R5, -4);
    JA(L_LOOKUP);
    /* An error quotes a packet sent from this address: it belongs to the flow whose protocol and source port it
     * quotes (RFC 792, RFC 1191; the key's address, the outer destination, is the quoted source). A quoted
     * non-first fragment (no port) and quoted protocols other than TCP and UDP stay with the kernel. */
    label(a, L_QUOTE);
    MOVR(R4, R7);
    ADDI(R4, 28); /* the ICMP header and a 20-byte quoted header */
    JGTR(R4, R3, L_PASS);
    LDX(BPF_H, R5, R7, 14); /* the quoted flags and fragment offset */
    ANDI(R5, htons(0x1fff));
    JNEI(R5, 0, L_PASS);
    LDX(BPF_B, R8, R7, 17); /* the quoted protocol */
    JEQI(R8, 6, L_QPORT);
    JNEI(R8, 17, L_PASS);
    label(a, L_QPORT);
    STX(BPF_B, R10, R8, -2);
    LDX(BPF_B, R5, R7, 8);
    ANDI(R5, 0x0f);
    LSHI(R5, 2); /* the quoted IHL in bytes */
    JLTI(R5, 20, L_PASS);
    MOVR(R4, R7);
    ADDI(R4, 8);
    ADDR(R4, R5); /* the quoted transport header */
    MOVR(R9, R4);
    ADDI(R9, 2);
    JGTR(R9, R3, L_PASS);
    LDX(BPF_H, R5, R4, 0); /* its source port: this host's */
    STX(BPF_H, R10, R5, -4);
    JA(L_LOOKUP);
    if (has6) {
      label(a, L_IP6);
      MOVR(R4, R2);
      ADDI(R4, 62); /* the fixed header and 8 bytes of TCP, UDP or ICMPv6 */
      JGTR(R4, R3, L_PASS);
      LDX(BPF_B, R5, R2, 38); /* a multicast destination is the kernel's */
      JEQI(R5, 0xff, L_PASS);
      LDX(BPF_B, R8, R2, 20); /* Next Header */
      ST(BPF_W, R10, -8, 0); /* address 0: any of the interface's */
      STX(BPF_B, R10, R8, -2);
      ST(BPF_B, R10, -1, 0);
      JEQI(R8, 6, L_PORTS6);
      JEQI(R8, 17, L_PORTS6);
      JNEI(R8, 58, L_PASS);
      LDX(BPF_B, R5, R2, 54); /* ICMPv6 type */
      JEQI(R5, 1, L_QUOTE6); /* destination unreachable */
      JEQI(R5, 2, L_QUOTE6); /* packet too big */
      JEQI(R5, 3, L_QUOTE6); /* time exceeded */
      JEQI(R5, 4, L_QUOTE6); /* parameter problem */
      JNEI(R5, 129, L_PASS); /* an echo reply belongs to a flow by its identifier */
      LDX(BPF_H, R5, R2, 58);
      STX(BPF_H, R10, R5, -4);
      JA(L_LOOKUP);
      /* An error (RFC 4443) quotes a packet sent from this host: the flow whose protocol and source port it quotes,
       * when TCP or UDP follows the quoted fixed header directly (RFC 8201: packet too big lowers the path MTU). */
      label(a, L_QUOTE6);
      MOVR(R4, R2);
      ADDI(R4, 104); /* the quoted fixed header at 62, its transport's source port at 102 */
      JGTR(R4, R3, L_PASS);
      LDX(BPF_B, R8, R2, 68); /* the quoted Next Header */
      JEQI(R8, 6, L_QPORT6);
      JNEI(R8, 17, L_PASS);
      label(a, L_QPORT6);
      STX(BPF_B, R10, R8, -2);
      LDX(BPF_H, R5, R2, 102);
      STX(BPF_H, R10, R5, -4);
      JA(L_LOOKUP);
      label(a, L_PORTS6);
      LDX(BPF_H, R5, R2, 56);
      STX(BPF_H, R10, R5, -4);
      JA(L_LOOKUP);
    }
    label(a, L_PORTS);
    LDX(BPF_H, R5, R7, 2); /* destination port (TCP and UDP both at offset 2) */
    STX(BPF_H, R10, R5, -4);
    label(a, L_LOOKUP);
    LDMAP(R1, flow_fd);
    MOVR(R2, R10);
    ADDI(R2, -8);
    CALL(BPF_FUNC_map_lookup_elem);
    JEQI(R0, 0, L_PASS);
  }
  label(a, L_REDIRECT);
  LDX(BPF_W, R2, R6, 16);
  LDMAP(R1, xsk_fd);
  MOVI(R3, drop_unbound ? XDP_DROP : XDP_PASS);
  CALL(BPF_FUNC_redirect_map);
  if (drop_unbound && unbound_fd >= 0) {
    /* No socket on this queue (its worker is gone): count the drop in unbound[rx_queue_index]. */
    JNEI(R0, XDP_DROP, L_DONE);
    LDX(BPF_W, R2, R6, 16);
    STX(BPF_W, R10, R2, -16);
    LDMAP(R1, unbound_fd);
    MOVR(R2, R10);
    ADDI(R2, -16);
    CALL(BPF_FUNC_map_lookup_elem);
    JEQI(R0, 0, L_DROPPED);
    MOVI(R1, 1);
    emit(a, BPF_STX | BPF_ATOMIC | BPF_DW, R0, R1, 0, BPF_ADD);
    label(a, L_DROPPED);
    MOVI(R0, XDP_DROP);
    label(a, L_DONE);
  }
  EXIT();
  label(a, L_PASS);
  MOVI(R0, XDP_PASS);
  EXIT();
  resolve(a);
}
