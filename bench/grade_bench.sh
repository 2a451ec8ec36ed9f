#!/usr/bin/env bash
# Grading throughput of `npfl138 grade` and the checker's own overhead per case.
#   bash bench/grade_bench.sh [ROUNDS]     (needs python3 with NumPy and a release build of npfl138)
# 1. 16 copies of the NumPy numpy_entropy submission (tests/fixtures/numpy_entropy.py), graded with
#    -j 1 and -j 2 on the hidden cases (--course-data /nonexistent: 2 cases each, a fixed seed);
#    seconds per submission, min and median over ROUNDS alternating rounds.
# 2. One case (the course's example 3) checked in ReCodEx mode vs the same Python run bare on the same files:
#    wall time and peak memory of the checker itself (GNU time's max RSS is the largest process of
#    the tree, so the checker alone is read from /proc/<pid>/status while it runs).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
bin=target/release/npfl138
[ -x "$bin" ] || cargo build --release -p npfl138
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq -w 1 16); do
    mkdir -p "$work/subs/s$i"
    cp tests/fixtures/numpy_entropy.py "$work/subs/s$i/"
done
now() { date +%s.%N; }
declare -A times
for r in $(seq 1 "$rounds"); do
    for j in 1 2; do
        t0=$(now)
        "$bin" grade numpy_entropy "$work/subs" --out "$work/out$j-$r" --force -j "$j" \
            --seed 7 --course-data /nonexistent >/dev/null 2>&1
        t1=$(now)
        times[$j]+="$(echo "($t1 - $t0) / 16" | bc -l) "
    done
done
stats() { python3 -c "import sys, statistics as s; v=[float(x) for x in sys.argv[1:]]; print(f'min {min(v):.3f} s, median {s.median(v):.3f} s')" "$@"; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "grade, 16 submissions x 2 hidden cases, seconds per submission over $rounds rounds:"
echo "  -j 1: $(stats ${times[1]})"
echo "  -j 2: $(stats ${times[2]})"

bare=() ; checked=() ; peaks=()
# The course's example 3 (../shared/data/course or NPFL138_COURSE_DATA): the same files bare and checked.
course=${NPFL138_COURSE_DATA:-../shared/data/course}
data_args="--data_path $course/numpy_entropy_data_3.txt --model_path $course/numpy_entropy_model_3.txt"
for r in $(seq 1 "$rounds"); do
    t0=$(now); python3 tests/fixtures/numpy_entropy.py $data_args >/dev/null; t1=$(now)
    bare+=("$(echo "$t1 - $t0" | bc -l)")
    t0=$(now)
    "$bin" check numpy_entropy "$work/subs/s01" --course-data "$course" --case example_3 >/dev/null 2>&1 &
    pid=$!; peak=0
    while kill -0 "$pid" 2>/dev/null; do
        kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ -n "$kb" ] && [ "$kb" -gt "$peak" ] && peak=$kb
        sleep 0.005
    done
    wait "$pid" || true
    t1=$(now)
    checked+=("$(echo "$t1 - $t0" | bc -l)"); peaks+=("$peak")
done
echo "one case (the course's example 3), wall time over $rounds rounds:"
echo "  python3 bare:          $(stats "${bare[@]}")"
echo "  npfl138 check (ReCodEx mode, sandbox, probe included): $(stats "${checked[@]}")"
echo "  checker's own peak RSS: $(printf '%s\n' "${peaks[@]}" | sort -n | tail -1) KiB (max over rounds)"
