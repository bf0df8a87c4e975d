/* hangar — hangard's entry point; everything else is in libhangar_core. */
#include "daemon/daemon.h"

int main(int argc, char **argv)
{
    return hg_daemon_main(argc, argv);
}
