"""Lightning callbacks a run is assembled with (conf/callbacks/)."""
