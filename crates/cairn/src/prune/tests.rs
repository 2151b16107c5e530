//! Unit tests of the option parsing and the pack decisions.
