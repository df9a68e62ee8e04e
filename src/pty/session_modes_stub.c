/* session_modes_stub: a weak session_modes() for builds where the terminal-state code
 * does not provide one yet (round-spec "Session API"): the modes of the session's
 * inline-fed model, or 0 with terminal state off. A strong definition elsewhere wins at
 * link time, so this file can simply be deleted once it exists. */
#include "pty/session.h"
#include "term/vt.h"

/* VT_MODE_* bits of the session's terminal model now (0 with terminal state off). */
__attribute__((weak)) unsigned session_modes(struct session *s)
{
    const struct vt *vt = session_vt_model(s);
    return vt ? vt_modes(vt) : 0;
}
