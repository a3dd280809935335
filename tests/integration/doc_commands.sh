#!/usr/bin/env bash
# The docs are true: every ```sh block of README.md and docs/*.md runs, in document order
# (README first), in one scratch directory that looks like the source tree (jobs/, tools/,
# scripts/, slurm/, datasets/, docs/examples linked; build/cascade and `cascade` on PATH are
# this build). A block that fails fails the test, naming FILE:LINE and its output.
# Blocks after <!-- doc-test: skip (REASON) --> (a cluster, hours) are counted, not run;
# <!-- doc-test: file PATH --> before any block writes it to PATH (the README's job file).
# Small data, so that the whole runs in a few minutes: every `-n COUNT` of a block above
# DOC_TEST_EVENTS [2000] runs as `-n DOC_TEST_EVENTS` (simulate, generate, the tools' sample
# counts); build/cascade here is a wrapper that gives `train` --steps DOC_TEST_STEPS [30]
# unless the command has --steps, and `explain --index A:B` at most DOC_TEST_SAMPLES [50]
# samples; mpirun gets --oversubscribe. Blocks run with bash -e.
# DOC_TEST_FILES="README.md docs/x.md" runs only those files; DOC_TEST_KEEP=1 keeps the directory.
set -euo pipefail
src=${CASCADE_SOURCE_DIR:?}
cascade=${CASCADE_BIN:?}
py=${CASCADE_PYTHON:-/usr/bin/python3}
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-doc.XXXXXX")
[[ ${DOC_TEST_KEEP:-0} == 1 ]] || trap 'rm -rf "$here"' EXIT
cd "$here"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 HDF5_USE_FILE_LOCKING=FALSE
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export DOC_TEST_EVENTS=${DOC_TEST_EVENTS:-2000} DOC_TEST_STEPS=${DOC_TEST_STEPS:-30} DOC_TEST_SAMPLES=${DOC_TEST_SAMPLES:-50}
export CASCADE_TOOLS=$src/tools CASCADE_PYTHON=$py

# the tree the docs' commands expect
for d in jobs tools scripts slurm datasets bench Makefile; do ln -s "$src/$d" "$d"; done
mkdir -p docs/images build bin data
ln -s "$src/docs/examples" docs/examples
cat > build/cascade <<EOF
#!/usr/bin/env bash
# doc test: $cascade with train given --steps \$DOC_TEST_STEPS, explain --index at most \$DOC_TEST_SAMPLES samples
args=("\$@")
if [[ \${1:-} == explain ]]; then
  for ((i = 1; i + 1 < \${#args[@]}; i++)); do
    if [[ \${args[i]} == --index && \${args[i + 1]} =~ ^([0-9]+):([0-9]+)\$ ]] &&
       (( BASH_REMATCH[2] - BASH_REMATCH[1] > DOC_TEST_SAMPLES )); then
      args[i + 1]=\${BASH_REMATCH[1]}:\$(( BASH_REMATCH[1] + DOC_TEST_SAMPLES ))
    fi
  done
elif [[ \${1:-} == train && " \$* " != *" --steps "* && " \$* " != *" --help "* ]]; then
  args+=(--steps "\$DOC_TEST_STEPS")
fi
exec "$cascade" "\${args[@]}"
EOF
cp build/cascade bin/cascade
real_mpirun=$(command -v mpirun)
printf '#!/usr/bin/env bash\nexec %q --oversubscribe "$@"\n' "$real_mpirun" > bin/mpirun
chmod +x build/cascade bin/cascade bin/mpirun
export PATH=$here/bin:$PATH

# run_blocks DIR FILE.md...: extracts and runs the blocks in order; counts ran/skipped/failed
run_blocks() {
  local dir=$1 n kind where arg t0 rc
  shift
  ran=0 skipped=0 failed=0
  (cd "$src" && "$py" tests/support/doc_blocks.py --max-n "$DOC_TEST_EVENTS" "$here/$dir" "$@")
  while IFS=$'\t' read -r n kind where arg; do
    case $kind in
      file)
        mkdir -p "$(dirname "$arg")"
        cp "$dir/$n.txt" "$arg" ;;
      skip)
        skipped=$((skipped + 1))
        echo "skip  $where $arg" ;;
      run)
        t0=$SECONDS rc=0
        timeout "${DOC_TEST_TIMEOUT:-300}" bash -eo pipefail "$dir/$n.sh" < /dev/null > "$dir/$n.log" 2>&1 || rc=$?
        if [[ $rc == 0 ]]; then
          ran=$((ran + 1))
          echo "ok    $where ($((SECONDS - t0)) s)"
        else
          failed=$((failed + 1))
          echo "FAIL  $where (exit $rc, $((SECONDS - t0)) s): the block was"
          sed 's/^/      | /' "$dir/$n.sh"
          echo "      its output (last 30 lines):"
          tail -n 30 "$dir/$n.log" | sed 's/^/      > /'
        fi ;;
    esac
  done < "$dir/manifest.tsv"
}

# the test can fail: a false command fails, a marked block is skipped, a file block is written
mkdir -p "$here/.self"
cat > "$here/.self/false.md" <<'MD'
<!-- doc-test: file self.txt -->
```ini
x = 1
```
```sh
grep -q "x = 1" self.txt
build/cascade simulate nosuchkind -n 10 -o self.h5
```
<!-- doc-test: skip (self-test) -->
```sh
false
```
MD
run_blocks .self-blocks "$here/.self/false.md" > .self/out.txt
[[ $ran == 0 && $failed == 1 && $skipped == 1 ]] && grep -q "unknown kind 'nosuchkind'" .self/out.txt ||
  { echo "doc test self-check failed: ran $ran, failed $failed, skipped $skipped"; cat .self/out.txt; exit 1; }

files=${DOC_TEST_FILES:-"README.md $(cd "$src" && ls docs/*.md | tr '\n' ' ')"}
start=$SECONDS
run_blocks .blocks $files
echo "doc commands: $ran ran, $skipped skipped, $failed failed in $((SECONDS - start)) s"
[[ $failed == 0 && $ran -gt 0 ]]
