//! Code shared by the examples and the integration tests of the mxf workspace.
