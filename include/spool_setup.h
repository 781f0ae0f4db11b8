// Making a spool directory (ScribeSpoolDir, a SyslogTarget's spool=) ready
// for the children, safely from a root parent.
//
// The parent runs as root and the children as User, who can write the spool
// directory (and perhaps its parent, such as a world-writable run dir). So
// the parent never follows a name inside such a directory: it walks the path
// one component at a time with directory fds (openat with O_NOFOLLOW, fstat,
// fchown, mkdirat), creates only what does not exist (parents 0755 owned by
// the parent's user, the spool directory 0700 handed to User), and checks
// an existing spool directory instead of taking it over. Nothing is opened,
// created or truncated inside the spool directory itself.
//
// No httpd headers: unit-tested on its own (t/unit/test_spool_setup.cpp).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace delivery {

// Who the spool directory is for: the user and groups the children run as.
struct SpoolOwner {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, gid included
  std::string user_name;      // for messages
};

// The user `uid` with primary group `gid` and the supplementary groups the
// group database gives that user (as initgroups() gives the children).
SpoolOwner spool_owner_for(uid_t uid, gid_t gid, const std::string& user_name);

// How many symbolic links a path may go through, as the kernel's MAXSYMLINKS.
constexpr int kMaxSpoolPathLinks = 40;

// Makes `dir` (an absolute path) an existing directory that `owner` can
// enter and write and nobody else can write:
//  - missing components are created: parents 0755, `dir` itself 0700, and
//    `dir` is handed to the owner when the caller is root;
//  - an existing `dir` is used as it is when the owner owns it and neither
//    its group nor others can write it; owned by anybody else (root
//    included) it is refused, never handed over;
//  - a symbolic link on the way is followed only when it sits in a directory
//    only root (or the caller) can write; elsewhere it is refused;
//  - every directory on the way must let the owner search it.
// On failure, `error` names the directory and says what to do.
bool prepare_spool_dir(const std::string& dir, const SpoolOwner& owner, std::string& error);

}  // namespace delivery
