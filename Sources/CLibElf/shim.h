#include <libelf.h>
#include <gelf.h>
#include <fcntl.h>
#include <unistd.h>
