// The child side of a sandboxed spawn: clone into new namespaces, replay a flat list of setup
// steps prepared by Swift, execve. Nothing here allocates; see spawn.c.
#ifndef CLOISTER_CSANDBOX_H
#define CLOISTER_CSANDBOX_H
#endif
