// Reading a file as the root parent (a certificate, a private key) without
// following anything a less privileged user could have put in its way.
//
// The path is walked from "/" one component at a time, through directory
// fds (openat with O_NOFOLLOW). Every directory on the way must be one whose
// entries only root (or the caller) can change, or a sticky directory (/tmp)
// whose next entry root (or the caller) owns; a symbolic link is followed
// only out of such a directory (Debian's /etc/ssl/certs links), at most
// kMaxLinks of them. The file itself must be a regular file only root (or
// the caller) can write: whoever could change a CA file could read the logs
// in transit, and a key file swapped for a link would hand the parent's
// reading of it to someone else.
#pragma once

#include <string>

namespace delivery {

// The contents of `path` (absolute) into `out`; false with `error` naming
// the path, or the part of it, that is not safe or cannot be read.
bool read_trusted_file(const std::string& path, std::string& out, std::string& error);

}  // namespace delivery
