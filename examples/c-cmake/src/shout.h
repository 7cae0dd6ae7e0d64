// shout: upper-cases a line in place (the example's "library", to show a multi-target build).
#ifndef SHOUT_H
#define SHOUT_H

void shout(char *line);

#endif
