/* Device rules on cgroup v2: an eBPF program of type CGROUP_DEVICE that
   replays the OCI rules as cgroup v1 applied them (the last matching rule
   decides; no rule matching: allowed), attached to the container's cgroup. */
#include "cgroup.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INSN(c, d, s, o, i)                                                                        \
  ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(d, s, o) INSN (BPF_LDX | BPF_W | BPF_MEM, d, s, o, 0)
#define ALU_IMM(op, d, i) INSN (BPF_ALU64 | (op) | BPF_K, d, 0, 0, i)
#define MOV_REG(d, s) INSN (BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define JMP_IMM(op, d, i, o) INSN (BPF_JMP | (op) | BPF_K, d, 0, o, i)
#define EXIT() INSN (BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define TO_END 0x7fff /* jump placeholder: to the end of the rule's block */

static int
access_bits (const char *a)
{
  int bits = 0;
  for (; a && *a; a++)
    bits |= *a == 'r'   ? BPF_DEVCG_ACC_READ
            : *a == 'w' ? BPF_DEVCG_ACC_WRITE
            : *a == 'm' ? BPF_DEVCG_ACC_MKNOD
                        : 0;
  return bits ? bits : 7;
}

/* One rule: r2 = type, r3 = access, r4 = major, r5 = minor.  *final is set
   when the rule matches every device (what follows is unreachable). */
static size_t
rule_block (jv rule, struct bpf_insn *b, bool *final)
{
  bool allow = false;
  dk_json_bool (rule, "allow", &allow);
  const char *type = dk_json_str (rule, "type");
  int64_t major = -1, minor = -1;
  dk_json_int (rule, "major", &major);
  dk_json_int (rule, "minor", &minor);
  int acc = access_bits (dk_json_str (rule, "access"));
  size_t n = 0;
  if (type && *type != 'a')
    {
      if (*type != 'c' && *type != 'b')
        return 0; /* fifos are not device-controlled */
      b[n++]
          = JMP_IMM (BPF_JNE, 2, *type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, TO_END);
    }
  if (acc != 7)
    {
      /* allow: every requested access is allowed; deny: one is denied */
      b[n++] = MOV_REG (1, 3);
      b[n++] = ALU_IMM (BPF_AND, 1, allow ? (~acc & 7) : acc);
      b[n++] = JMP_IMM (allow ? BPF_JNE : BPF_JEQ, 1, 0, TO_END);
    }
  if (major >= 0)
    b[n++] = JMP_IMM (BPF_JNE, 4, (int32_t)major, TO_END);
  if (minor >= 0)
    b[n++] = JMP_IMM (BPF_JNE, 5, (int32_t)minor, TO_END);
  *final = n == 0;
  b[n++] = ALU_IMM (BPF_MOV, 0, allow ? 1 : 0);
  b[n++] = EXIT ();
  for (size_t i = 0; i < n; i++)
    if (b[i].off == TO_END)
      b[i].off = (int16_t)(n - i - 1);
  return n;
}

int
dk_cgroup_devices_v2 (const char *dir, jv rules, dk_err_t *err)
{
  int nrules = dk_json_len (rules);
  if (nrules <= 0)
    return 0;
  cleanup_free struct bpf_insn *p = xzalloc (sizeof *p * (8 + 12 * (size_t)nrules));
  size_t n = 0;
  p[n++] = LDX_W (2, 1, 0);
  p[n++] = ALU_IMM (BPF_AND, 2, 0xffff);
  p[n++] = LDX_W (3, 1, 0);
  p[n++] = ALU_IMM (BPF_RSH, 3, 16);
  p[n++] = LDX_W (4, 1, 4);
  p[n++] = LDX_W (5, 1, 8);
  /* the last matching rule wins: test them from the last one */
  bool final = false;
  for (int i = nrules - 1; i >= 0 && !final; i--)
    {
      cleanup_jv jv r = jv_array_get (jv_copy (rules), i);
      n += rule_block (r, p + n, &final);
    }
  /* no rule matched: allowed, as on v1 */
  if (!final)
    {
      p[n++] = ALU_IMM (BPF_MOV, 0, 1);
      p[n++] = EXIT ();
    }

  char log[4096] = "";
  union bpf_attr attr;
  memset (&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uintptr_t)p;
  attr.insn_cnt = (uint32_t)n;
  attr.license = (uintptr_t) "GPL";
  cleanup_close int prog = (int)syscall (SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
  if (prog < 0)
    {
      /* again with the verifier's log, for the message */
      int e = errno;
      attr.log_buf = (uintptr_t)log;
      attr.log_size = sizeof log;
      attr.log_level = 1;
      syscall (SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
      log[sizeof log - 1] = '\0';
      return dk_make_error (err, e, "load device filter (%.200s)", log);
    }
  cleanup_close int cg = open (dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (cg < 0)
    return dk_make_error (err, errno, "open `%s`", dir);
  memset (&attr, 0, sizeof attr);
  attr.target_fd = (uint32_t)cg;
  attr.attach_bpf_fd = (uint32_t)prog;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (syscall (SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr) < 0)
    return dk_make_error (err, errno, "attach device filter to `%s`", dir);
  return 0;
}
