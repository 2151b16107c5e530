//! A rest-server compatible repository server. Arrives with the backends work (issue 5).
