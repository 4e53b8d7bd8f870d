import { constants } from 'node:fs';

/**
 * O_NOATIME (Linux) where the platform has it: reading a file to ship it (a recording, its
 * sidecar, a file of a share) leaves its access time as it was, as `tar --atime-preserve=system`
 * and `rsync --noatime` do. The site's access times stay its users' (an archiving policy may
 * read them), and the first read of a recent file writes no inode: under relatime it would, and
 * such a write can wait for the file system's journal. Only a file's owner, or root, may ask:
 * an open refused for it (EPERM) is made again without it, and when that one succeeds, O_NOATIME
 * is off for the rest of the process.
 */
let noAtime = constants.O_NOATIME ?? 0;

/** `flags` with O_NOATIME added while this process may ask for it. */
export const withNoAtime = (flags: number): number => flags | noAtime;

/** Whether `error` answers an open that asked for O_NOATIME with EPERM (the kernel's answer to a non-owner). */
function refusedWithNoAtime(error: unknown, asked: number): boolean {
  return (asked & noAtime) !== 0 && (error as NodeJS.ErrnoException).code === 'EPERM';
}

/**
 * Opens with `flags` and O_NOATIME; when that is refused (EPERM), once more without O_NOATIME.
 * Only when that open succeeds was it O_NOATIME that was refused, and it is turned off for the
 * rest of the process; a file refused either way (unreadable to the agent) throws that second
 * refusal and changes nothing for the other files.
 */
export function openSyncNoAtime<P>(openFile: (path: P, flags: number) => number, path: P, flags: number): number {
  const asked = withNoAtime(flags);
  try {
    return openFile(path, asked);
  } catch (error) {
    if (!refusedWithNoAtime(error, asked)) throw error;
    const fd = openFile(path, flags);
    noAtime = 0;
    return fd;
  }
}

/** openSyncNoAtime for an asynchronous opener. */
export async function openNoAtime<P, H>(openFile: (path: P, flags: number) => Promise<H>, path: P, flags: number): Promise<H> {
  const asked = withNoAtime(flags);
  try {
    return await openFile(path, asked);
  } catch (error) {
    if (!refusedWithNoAtime(error, asked)) throw error;
    const handle = await openFile(path, flags);
    noAtime = 0;
    return handle;
  }
}
