"""Runs `prepare_nyudv2` and SIGKILLs itself after writing N masks (a prepare killed midway)."""

import os
import signal
import sys

from cenkeras.prepare import PreparedFolder, prepare_nyudv2


def main(labeled, splits, mapping, out, kill_after):
    written = []
    write_mask = PreparedFolder.write_mask

    def write_then_maybe_die(self, relative, labels):
        write_mask(self, relative, labels)
        written.append(relative)
        if len(written) == int(kill_after):
            os.kill(os.getpid(), signal.SIGKILL)

    PreparedFolder.write_mask = write_then_maybe_die
    prepare_nyudv2(labeled, splits, mapping, out, quiet=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
