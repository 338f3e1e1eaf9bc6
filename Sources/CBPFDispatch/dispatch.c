// Intentionally empty: everything in this target is in include/CBPFDispatch.h, compiled into BPFVM by the Swift
// compiler (see the header). SwiftPM needs one source file per C target.
#include "CBPFDispatch.h"
