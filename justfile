# Recipes for working on dataorch. Each one calls a script under scripts/, so `just` is a
# convenience and never required.

# Run the end-to-end demo and exit.
demo:
    bash scripts/demo.sh

# Start the local development stack in the foreground.
dev *args:
    bash scripts/dev.sh {{args}}

# Run the test suite (SQLite; set DATAORCH_TEST_DATABASE_URL for PostgreSQL).
test *args:
    bash scripts/test.sh {{args}}

# Format and lint.
lint:
    cargo fmt --all
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI runs.
ci:
    bash .ci/run
