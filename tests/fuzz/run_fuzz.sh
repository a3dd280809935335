#!/usr/bin/env bash
# run_fuzz.sh HARNESS WORKDIR SEEDDIR [libFuzzer options...]
# A bounded libFuzzer run of HARNESS over SEEDDIR (read only) and WORKDIR (new inputs are kept
# there; reproducers go to WORKDIR/artifacts/). Exit 0 when no input failed, or when every
# failure is a known defect of libhdf5 itself (known-hdf5.txt, docs/hdf5.md "Fuzzing"): then
# the run goes on with the next -seed for what is left of -max_total_time (at most 8 restarts).
# Reproduce one: HARNESS WORKDIR/artifacts/crash-...
# CASCADE_FUZZ_FORK=N: libFuzzer's fork mode with N jobs (make fuzz): failures are collected
# instead of stopping the run, and all are classified at the end.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
harness=${1:?usage: run_fuzz.sh HARNESS WORKDIR SEEDDIR [options]}
work=${2:?} seeds=${3:?}
shift 3
mkdir -p "$work/artifacts"
[[ -d "$seeds" ]] || { echo "run_fuzz: no seed directory $seeds" >&2; exit 1; }
seed=1 total=0
opts=()
for o in "$@"; do
  case "$o" in
    -seed=*) seed=${o#-seed=} ;;
    -max_total_time=*) total=${o#-max_total_time=} ;;
    *) opts+=("$o") ;;
  esac
done
known_re=$(grep -v '^#' "$here/known-hdf5.txt" | grep . | paste -sd'|')

# classify LOG: prints "known FUNCTION" or "ours"; the first report's stack is looked at.
classify() {
  awk -v re="^($known_re)\$" '
    /^    #[0-9]+ / {
      seen = 1
      fn = ""; for (i = 1; i <= NF; i++) if ($i == "in") { fn = $(i + 1); break }
      if ($0 ~ /\/(src|tests)\/[^ ]*\.c:[0-9]+/) { done = 1 } # a frame of our code, with its line
      else if (!done) {
        if ($0 ~ /libhdf5/) { if (fn ~ re) hit = fn }
        else if ($0 !~ /libc\.so|libc_|\/libc\/|interceptor|sanitizer|compiler-rt|__asan|__ubsan|libFuzzer|fuzzer::|malloc|calloc|realloc|memcpy|memmove|memset|strlen|_start/) other = 1
      }
    }
    seen && /^$/ && !ended { ended = 1; exit }
    END { if (hit != "" && !other) print "known " hit; else print "ours" }' "$1"
}

start=$(date +%s)
if [[ -n "${CASCADE_FUZZ_FORK:-}" ]]; then
  log="$work/fork.log"
  "$harness" "$work" "$seeds" -artifact_prefix="$work/artifacts/" -timeout=20 -rss_limit_mb=4096 \
    -fork="$CASCADE_FUZZ_FORK" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -seed="$seed" \
    ${total:+-max_total_time=$total} "${opts[@]}" 2>&1 | tee "$log" | grep -E "^#[0-9]+:|INFO: (fuzzed|exiting)"
  fail=0
  for a in "$work"/artifacts/*; do
    [[ -f "$a" && "$a" != *.log ]] || continue
    "$harness" -timeout=20 -rss_limit_mb=4096 "${opts[@]}" "$a" > "$a.log" 2>&1
    verdict=$(classify "$a.log")
    echo "run_fuzz: $a: $verdict"
    [[ $verdict == known* ]] || fail=1
  done
  exit $fail
fi

for attempt in 0 1 2 3 4 5 6 7 8; do
  left=()
  if ((total > 0)); then
    remain=$((total - ($(date +%s) - start)))
    ((remain > 0)) || break
    left=(-max_total_time="$remain")
  fi
  log="$work/run-$attempt.log"
  before=$(ls "$work/artifacts" | wc -l)
  "$harness" "$work" "$seeds" -artifact_prefix="$work/artifacts/" -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 -seed=$((seed + attempt)) "${left[@]}" "${opts[@]}" > "$log" 2>&1
  rc=$?
  grep -E "^#[0-9]+ +DONE|^Done [0-9]+ runs|stat::number_of_executed_units" "$log"
  ((rc == 0)) && exit 0
  after=$(ls "$work/artifacts" | wc -l)
  verdict=$(classify "$log")
  if [[ $verdict == known* && $after -gt $before ]]; then
    echo "run_fuzz: a known defect of libhdf5 itself (${verdict#known }; docs/hdf5.md \"Fuzzing\"), not ours:" \
      "$(ls -t "$work/artifacts" | head -1); going on with the next seed"
    continue
  fi
  echo "run_fuzz: FAILED (exit $rc): $(ls -t "$work/artifacts" | head -1)"
  grep -vE "^#[0-9]+ +(NEW|REDUCE|pulse)|NEW_FUNC" "$log" | tail -80
  exit 1
done
exit 0
