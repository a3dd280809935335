# Sourced by integration tests: expect CODE TEXT -- command...
# Runs the command; fails the test (printing its stderr) unless it exits with CODE and its
# stderr holds TEXT. Its stdout goes to err.out, its stderr to err.log in the current directory.
expect() {
  local code=$1 text=$2
  shift 3
  set +e
  "$@" > err.out 2> err.log
  local rc=$?
  set -e
  if [[ $rc != "$code" ]] || ! grep -qF -- "$text" err.log; then
    echo "expected exit $code and '$text' from: $*"
    cat err.log
    exit 1
  fi
}
