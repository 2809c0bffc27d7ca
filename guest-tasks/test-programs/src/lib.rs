//! Shared remote functions of the test programs.
