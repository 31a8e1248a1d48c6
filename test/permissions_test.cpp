// test/permissions_test.cpp - who may connect: the channel's files are owner-only (0600) by
// default; ChannelConfig::access widens them to the group (0660) or everyone (0666).
// The connecting side runs as another user: a child of this binary that drops root to
// uid/gid 65534 ("nobody") or to uid 65534 with the daemon's group. Needs root (CI runs as
// root); skipped with a message otherwise.
#include "test_support.hpp"

#include <grp.h>
#include <sys/stat.h>

using namespace venom_test;

namespace {

bool is_root() { return ::geteuid() == 0; }

unsigned file_mode(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return 0;
    return st.st_mode & 0777;
}

/// Runs the "connect_as" child as uid 65534 with group `gid`; returns its exit code:
/// 0 connected, 1 permission_denied, 2 another error.
int connect_as(const std::string& name, unsigned gid) {
    Child c = spawn_self("connect_as", {name, std::to_string(gid)});
    return c.wait(30s);
}

} // namespace

VENOM_CHILD_ROLE(connect_as) {
    const gid_t gid = static_cast<gid_t>(std::stoul(args.at(1)));
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(65534) != 0) return 3;
    try {
        auto shell = venom::ShellChannel::connect(args.at(0));
        char buf[64];
        (void)shell.read_data(buf, sizeof buf);
        return 0;
    } catch (const venom::error& e) {
        std::fprintf(stderr, "connect_as: %s\n", e.what());
        return e.code() == venom::errc::permission_denied ? 1 : 2;
    }
}

BOOST_AUTO_TEST_CASE(owner_only_by_default) {
    if (!is_root()) {
        BOOST_TEST_MESSAGE("skipped: needs root to act as another user");
        return;
    }
    ChannelName name("perm");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 4});
    BOOST_TEST(file_mode("/dev/shm/venom." + name.str() + ".shm") == 0600u);
    BOOST_TEST(file_mode("/dev/shm/venom." + name.str() + ".lock") == 0600u);
    BOOST_TEST(connect_as(name.str(), 65534) == 1); // another user: permission_denied
    BOOST_TEST(connect_as(name.str(), ::getgid()) == 1); // same group, other user: denied too
}

BOOST_AUTO_TEST_CASE(group_access) {
    if (!is_root()) return;
    ChannelName name("perm");
    venom::ChannelConfig c{64, 4, 4};
    c.access = venom::Access::group;
    auto daemon = venom::DaemonChannel::create(name.str(), c);
    BOOST_TEST(file_mode("/dev/shm/venom." + name.str() + ".shm") == 0660u);
    BOOST_TEST(connect_as(name.str(), ::getgid()) == 0); // in the group: allowed
    BOOST_TEST(connect_as(name.str(), 65534) == 1);      // outside it: denied
}

BOOST_AUTO_TEST_CASE(everyone_access) {
    if (!is_root()) return;
    ChannelName name("perm");
    venom::ChannelConfig c{64, 4, 4};
    c.access = venom::Access::everyone;
    auto daemon = venom::DaemonChannel::create(name.str(), c);
    BOOST_TEST(file_mode("/dev/shm/venom." + name.str() + ".shm") == 0666u);
    BOOST_TEST(connect_as(name.str(), 65534) == 0);
}

BOOST_AUTO_TEST_CASE(umask_does_not_narrow_or_widen) {
    if (!is_root()) return;
    ChannelName name("perm");
    const mode_t old = ::umask(0077);
    venom::ChannelConfig c{64, 4, 4};
    c.access = venom::Access::everyone;
    auto daemon = venom::DaemonChannel::create(name.str(), c);
    ::umask(old);
    BOOST_TEST(file_mode("/dev/shm/venom." + name.str() + ".shm") == 0666u);
    BOOST_TEST(file_mode("/dev/shm/venom." + name.str() + ".lock") == 0666u);
}

VENOM_TEST_MAIN("permissions")
