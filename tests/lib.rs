//! Intentionally empty: the integration tests live in `it/` as one test binary.
