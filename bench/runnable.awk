# Used by bench/unpack.sh. Input: `perf script` of a `perf sched record`.
# Prints, over WALL seconds, for the threads named NAME: the average number
# runnable (running, or ready and waiting for a core), the average number
# running, and the fraction of the time at least two were runnable (both
# cores would be busy on an otherwise idle 2-core machine).
# Usage: awk -v name=NAME -v wall=WALL -f bench/runnable.awk
function field(k) { return match($0, " " k "=[^ ]*") ? substr($0, RSTART + length(k) + 2, RLENGTH - length(k) - 2) : "" }
# the number of runnable threads changes at time t
function tick() { if (cnt >= 2 && last) two += t - last; last = t }
function up(p) { if (!(p in on)) { tick(); on[p] = 1; cnt++ } }
function down(p) { if (p in on) { tick(); delete on[p]; cnt-- } }
{
  if (!match($0, / [0-9]+\.[0-9]+: /)) next
  t = substr($0, RSTART + 1, RLENGTH - 3) + 0
}
/sched:sched_switch:/ {
  if (field("prev_comm") == name) {
    p = field("prev_pid")
    if (p in run0) { run += t - run0[p]; delete run0[p] }
    if (field("prev_state") ~ /^R/) ready[p] = t; else down(p)
  }
  if (field("next_comm") == name) {
    n = field("next_pid")
    if (n in ready) { wait += t - ready[n]; delete ready[n] }
    run0[n] = t
    up(n)
  }
  next
}
/sched:sched_waking:|sched:sched_wakeup_new:/ {
  if (field("comm") == name) { p = field("pid"); if (!(p in ready) && !(p in run0)) ready[p] = t; up(p) }
}
END { printf "%.2f %.2f %.2f\n", (run + wait) / wall, run / wall, two / wall }
