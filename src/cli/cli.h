/* cli: the client commands (new, ls, attach, send, output, wait, kill, rm, url), each a
 * short program that talks to the daemon over its Unix socket. */
#ifndef PTYHUB_CLI_H
#define PTYHUB_CLI_H

/* Runs the client command argv[0]. Returns the process exit status: 0 ok, 1 failure,
 * 2 usage error (wait: the session's own status). */
int cli_main(int argc, char **argv);

#endif
