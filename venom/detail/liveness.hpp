// SPDX-License-Identifier: BSL-1.0
// venom/detail/liveness.hpp - who owns a channel's name, how a shell finds a live daemon's
// segment without trusting the segment, client slots, and takeover of a dead daemon's name.
//
// Design. The objects (layout.hpp names them; platform.hpp opens and locks them):
//   N    the name lock file "venom.<name>.lock", byte 0: held (exclusive lock) by the daemon
//        that owns the name, for its whole life. Owner: that daemon.
//   R    the NameRecord in N's contents. Written only by N's holder; on Linux the file is the
//        daemon user's, writable by nobody else (mode 0600/0640/0644, set again at each claim);
//        on Windows its security descriptor decides (with widened access, clients may write
//        it: they are trusted there, README "Security"). All zero or invalid: "no daemon
//        ready". It names the segment (incarnation, Linux inode), its size and where the
//        ControlBlock is, so a shell never needs Boost's index or header (inside the segment,
//        where anyone who can write the segment controls them).
//   D    the liveness file (Linux: the segment file), byte 0: "ready" - held by the daemon from
//        the moment its segment is complete until it closes or dies.
//   C_i  the liveness file, byte 1 + i: held by the shell that owns client slot i.
//   S    ControlBlock::state in the segment: ready, stopped (stop()), closed (close()).
//
// Daemon create (each step bounded; what a death at each step leaves):
//   1. open or create N: an existing N must be a regular file of this user (platform: no
//      symlink, FIFO, device or foreign file is ever opened read-write, locked or removed;
//      permission_denied names its owner).                         died: N left, unlocked
//   2. lock N byte 0. Held: a live daemon owns the name (channel_exists) unless N was unlinked
//      meanwhile by a daemon closing: then open the new N (back to 1). Held only by a shared
//      lock (a reader of N: possible with widened access, where clients are trusted): no
//      daemon, but the name cannot be taken: channel_exists saying so. Got it, but N has other
//      links (another channel's N linked here): unlink our name, back to 1. died: lock released
//   3. read R: a killed predecessor's record (ready or "building") names its incarnation.
//      It stays until step 4 replaces it: a shell that reads it finds its D free or its
//      segment replaced (another inode) and says "no daemon".         died: R as it was
//   4. the predecessor's segment file, if any: must be ours; D held means a daemon still runs
//      on it without N (its N was removed by hand): channel_exists; else unlink it. Then
//      R = "building" with our incarnation.          died: the next daemon cleans up after us
//   5. create the segment (Boost, O_EXCL) and lay it out; S = ready.  died: a file nobody
//      serves; the next daemon's step 4 removes it
//   6. open the segment file (own checks, same size), reserve it, lock D.
//   7. write R (SYNC POINT WRITE: record).                           died: R names a segment
//      whose D is free: shells see "no daemon"; the next daemon replaces R at step 4.
// Daemon close: S = closed (waiters abort); zero R; unlink the segment (if the path still names
// ours); release D; unlink N (if still ours); release N. A shell connecting meanwhile sees R
// zero, or S closed, or D free: channel_not_found, never daemon_gone or a half-built segment.
//
// Shell attach (no wait on anything another process controls - at most a bounded retry of a
// file being replaced; every "not now" is channel_not_found, which connect_timeout
// retries): read R (SYNC POINT READ: record) and check magic, size, name, checksum, layout ->
// open the segment file (owner trusted, same inode as R on Linux) -> D held? -> map it, sized by
// fstat (never by the segment's own words) -> the ControlBlock at R.control_offset must lie
// inside, carry R's creation stamp and pid, and have every region inside the mapping -> S is
// ready or stopped. The descriptor pins the inode, so a daemon that replaces the file later
// cannot make this mapping someone else's. Files hard-linked from another channel fail the
// record's name check (N) or the inode check (the segment).
//
// Memory orders: R is read and written with pread/pwrite (the kernel orders them; the checksum
// rejects a record read while being written). S: released by create_segment after the layout,
// acquired by attach before it reads anything else of the segment; the closed/stopped stores are
// seq_cst and precede the epoch bumps of wake_all, which waiters acquire (waiter.hpp).
//
// Client slots: a shell takes the first C_i it can lock (the OS drops the lock when the shell
// dies, so a slot is free exactly when its C_i is), then writes its ClientRecord (generation
// + 1, pid, state = connected: SYNC POINT WRITE: connected). Releasing: state = free (SYNC
// POINT WRITE: client slot free), unlock. The daemon reads state per command (acquire: SYNC
// POINT READ: connected, client slot free).
//
// A shell's death or stop never holds the queue: a queue position is claimed and published in
// one CAS (command_queue.hpp), so no recovery of dead claims is needed.
#pragma once

#include <venom/detail/channel_map.hpp>
#include <venom/detail/command_queue.hpp>
#include <venom/detail/fault.hpp>
#include <venom/detail/platform.hpp>
#include <venom/detail/view_pins.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

namespace venom::detail {

// ---- the name record ----------------------------------------------------------------------

/// FNV-1a over the record's bytes before its checksum.
inline std::uint64_t record_checksum(const NameRecord& r) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(&r);
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < offsetof(NameRecord, checksum); ++i)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/// Writes R (the daemon, holding N): a complete record, or all zero (`r` null).
inline void write_record(LockFile& name_lock, const NameRecord* r) {
    NameRecord out{};
    if (r != nullptr) {
        out = *r;
        out.checksum = record_checksum(out);
    }
    name_lock.write_at(0, &out, sizeof out); // SYNC POINT WRITE: record
}

/// Reads R; false unless it is a complete record of `channel` (magic, size, name, checksum)
/// of a ready daemon, or with `building`, of a daemon building its segment too.
inline bool read_record(const LockFile& name_lock, std::string_view channel, NameRecord& r,
                        bool building = false) noexcept {
    std::memset(&r, 0, sizeof r);
    if (name_lock.read_at(0, &r, sizeof r) != sizeof r) return false; // SYNC POINT READ: record
    const bool magic_ok =
        r.magic == name_record_magic || (building && r.magic == name_record_building_magic);
    if (!magic_ok || r.record_size != sizeof(NameRecord)) return false;
    if (r.checksum != record_checksum(r)) return false;
    if (channel.size() >= record_name_capacity || r.name[channel.size()] != '\0' ||
        std::memcmp(r.name, channel.data(), channel.size()) != 0)
        return false;
    return true;
}

/// A channel is not there now: no daemon, one starting or one closing. connect_timeout retries.
[[noreturn]] inline void not_ready(std::string_view channel, const std::string& why) {
    throw error(errc::channel_not_found, "channel \"" + std::string(channel) + "\" " + why);
}

// ---- the daemon's side --------------------------------------------------------------------

/// Steps 1-3: owns the name or throws channel_exists / permission_denied. Returns N, locked;
/// `previous` gets the predecessor's record (ready or building) if it left a valid one.
inline LockFile claim_name(std::string_view channel, const AccessControl& record_access,
                           NameRecord& previous, bool& had_previous) {
    const std::string path = lock_path(channel);
    int free_but_refused = 0;             // tries that found no exclusive holder yet could not lock
    constexpr int max_claim_tries = 1000; // each try found the lock file replaced meanwhile
    for (int attempt = 0; attempt < max_claim_tries; ++attempt) {
        LockFile lock = LockFile::open_or_create_own(path, record_access);
        const bool owned = lock.try_lock(name_lock_byte);
        if (!lock.still_linked()) continue; // a daemon closing unlinked it meanwhile: the new one
        const std::uint64_t links = lock.refresh().links;
        if (!owned) {
            std::string why = "channel \"" + std::string(channel) +
                              "\" is served by a live daemon; "
                              "stop it first or use another name";
            if (!lock.held_by_other(name_lock_byte)) {
                // A daemon that was closing has let go since our try: look again. Only a lock
                // that stays shared is a reader keeping the name.
                if (++free_but_refused < 3) continue;
                why = "a process with read access to " + path +
                      " holds a shared lock on it, so no "
                      "daemon can take the name (with Access::group or everyone, any client can): "
                      "stop that process, or remove the file and create again";
            } else if (links > 1)
                why += " (" + path + " has " + std::to_string(links) +
                       " links: if no daemon of \"" + std::string(channel) +
                       "\" runs, it is another channel's lock file linked "
                       "under this name; remove it)";
            throw error(errc::channel_exists, why);
        }
        if (links > 1) {
            // Ours, and nobody holds it, but it has other names (another channel's lock file,
            // linked here): not this channel's alone. Replace our name with a fresh file.
            lock.unlink_if_linked();
            continue;
        }
        lock.set_mode(record_access); // a file a crash left may carry another access's mode
        had_previous = read_record(lock, channel, previous, true);
        return lock;
    }
    throw error(errc::system_failure, "the lock file " + path + " keeps vanishing; try again");
}

/// Step 4: removes what a dead predecessor left (Linux: the segment file, which is also its
/// liveness file; Windows: its liveness file), refusing another user's file and a segment a
/// daemon still serves.
inline void remove_leftovers(std::string_view channel, std::uint64_t previous_incarnation) {
    const std::string path = liveness_path(channel, previous_incarnation);
    if (!look_at(path).exists) return;
    LockFile old;
    try {
        old = LockFile::open_own(path);
    } catch (const error& e) {
        if (e.code() == errc::channel_not_found) return; // removed meanwhile
        throw;
    }
    // Probed a few times: on Windows a probe takes the lock for an instant, so a shell of the
    // dead daemon probing at the same moment could make it look held once.
    bool held = true;
    for (int probe = 0; probe < 3 && held; ++probe) {
        held = old.held_by_other(segment_daemon_byte);
        if (held && probe < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // A live daemon's file with other links is another name's segment linked here: dropping
    // our name for it harms nobody. With one link it is this name's: a daemon runs without it.
    if (held && old.refresh().links == 1)
        throw error(errc::channel_exists,
                    "a daemon still serves " + path +
                        " although it no longer holds the name lock "
                        "(its lock file was removed while it ran): stop that daemon first");
    old.unlink_if_linked();
}

/// What every record of `channel` starts with: magic, version, size, incarnation and name.
inline NameRecord record_header(std::uint64_t magic, std::string_view channel,
                                std::uint64_t incarnation) noexcept {
    NameRecord r{};
    r.magic = magic;
    r.layout = layout_version;
    r.record_size = sizeof(NameRecord);
    r.incarnation = incarnation;
    std::memcpy(r.name, channel.data(), channel.size() < record_name_capacity ? channel.size() : 0);
    return r;
}

/// Step 4, last: the record a daemon keeps while it builds its segment: its incarnation, so
/// that if it dies now, the next daemon finds what it left (Windows names it by incarnation),
/// and its pid and uid, so that tools can name the daemon that died creating it.
inline void write_building_record(LockFile& name_lock, std::string_view channel,
                                  std::uint64_t incarnation) {
    NameRecord r = record_header(name_record_building_magic, channel, incarnation);
    r.daemon_pid = current_pid();
    r.daemon_uid = effective_uid();
    write_record(name_lock, &r);
}

/// The record of a ready daemon.
inline NameRecord make_record(std::string_view channel, std::uint64_t incarnation,
                              std::uint64_t segment_size, std::uint64_t control_offset,
                              const LockFile& segment_file, const ControlBlock& cb) noexcept {
    NameRecord r = record_header(name_record_magic, channel, incarnation);
    r.segment_size = segment_size;
    r.control_offset = control_offset;
    r.segment_dev = segment_file.facts().dev;
    r.segment_ino = segment_file.facts().ino;
    r.created_unix_ns = cb.created_unix_ns;
    r.daemon_pid = cb.daemon_pid;
    r.daemon_uid = effective_uid();
    return r;
}

// ---- a shell's (or the tool's) side --------------------------------------------------------

struct AttachOptions {
    Trust trust;              ///< whose files are accepted
    bool writable = true;     ///< map read-write (a shell) or read-only (the tool)
    bool require_live = true; ///< refuse a segment whose daemon is not alive (D free)
};

/// A segment found through R and mapped by this process.
struct Attachment {
    NameRecord record{};
    std::uint32_t owner = 0; ///< uid owning the channel's files (Linux)
    LockFile segment_file;   ///< Linux: the segment file; Windows: the liveness file
    Mapping mapping;
    ChannelMap map;
    bool daemon_alive = false; ///< D was held when attached
};

/// Finds and maps the segment of the daemon that serves `channel` (see the design note).
/// Throws channel_not_found (no daemon ready now), permission_denied (a file of a user not
/// trusted, or not a plain file), incompatible_layout (the daemon runs another layout),
/// corrupt_channel (the segment contradicts its record). Never waits on another process (a
/// file being replaced is retried within a bound).
inline Attachment attach(std::string_view channel, const AttachOptions& o) {
    Attachment a;
    const LockFile n = LockFile::open_trusted(lock_path(channel), o.trust, false);
    NameRecord& r = a.record;
    if (!read_record(n, channel, r))
        not_ready(channel, "has no daemon ready (none, or one starting or closing)");
    fault_point(fault::record_read);
    if (r.layout != layout_version)
        throw error(errc::incompatible_layout,
                    "the daemon of \"" + std::string(channel) + "\" uses venom layout version " +
                        std::to_string(r.layout) + ", this program reads version " +
                        std::to_string(layout_version) + ": build both with the same venom");
    try {
        a.segment_file =
            LockFile::open_trusted(liveness_path(channel, r.incarnation), o.trust, o.writable);
    } catch (const error& e) {
        // A daemon closing or taking over may remove the file while we open it (Windows: a
        // deleted file refuses opens while others hold it). If the record moved on, that is
        // "not now", not a permission problem.
        NameRecord again{};
        if (e.code() == errc::permission_denied &&
            (!read_record(n, channel, again) || again.incarnation != r.incarnation ||
             again.created_unix_ns != r.created_unix_ns))
            not_ready(channel, "is being replaced by a new daemon");
        throw;
    }
    a.owner = n.facts().owner;
    if (a.segment_file.facts().owner != a.owner)
        throw error(errc::permission_denied, "the files of channel \"" + std::string(channel) +
                                                 "\" belong to different users (uid " +
                                                 std::to_string(a.owner) + " and " +
                                                 std::to_string(a.segment_file.facts().owner) +
                                                 "): remove them (as their owners or root)");
    if (!matches_segment(a.segment_file, r.segment_dev, r.segment_ino))
        not_ready(channel, "is being replaced by a new daemon");
    a.daemon_alive = a.segment_file.held_by_other(segment_daemon_byte);
    if (o.require_live && !a.daemon_alive) not_ready(channel, "has no running daemon");
    a.mapping = Mapping::open(segment_name(channel, r.incarnation), a.segment_file, o.writable);
    const std::uint64_t size = a.mapping.size();
    if (size < r.segment_size)
        throw error(errc::corrupt_channel, "the segment of \"" + std::string(channel) + "\" is " +
                                               std::to_string(size) + " bytes, its daemon made " +
                                               std::to_string(r.segment_size) + " (truncated)");
    if (r.control_offset % cache_line != 0 || r.control_offset > size ||
        size - r.control_offset < sizeof(ControlBlock))
        throw error(errc::corrupt_channel, "the record of \"" + std::string(channel) +
                                               "\" puts the control block outside the segment");
    auto* cb = reinterpret_cast<ControlBlock*>(a.mapping.data() + r.control_offset);
    // SYNC POINT READ: channel ready (pairs with the daemon's release store in create_segment),
    // before anything else of the segment is read.
    const std::uint32_t st = cb->state.load(std::memory_order_acquire);
    try {
        a.map = ChannelMap::validate(cb, a.mapping.data(), size);
    } catch (const error& e) {
        // The record (which only the daemon writes) has the layout version already: a segment
        // whose magic or version disagrees with it was written over, not built elsewhere.
        if (e.code() != errc::incompatible_layout) throw;
        throw error(errc::corrupt_channel, "the segment of \"" + std::string(channel) +
                                               "\" contradicts its daemon's record (" + e.what() +
                                               ")");
    }
    if (cb->created_unix_ns != r.created_unix_ns || cb->daemon_pid != r.daemon_pid)
        throw error(errc::corrupt_channel, "the segment of \"" + std::string(channel) +
                                               "\" is not the one its daemon's record names");
    if (st == channel_closed && o.require_live) not_ready(channel, "is being closed by its daemon");
    if (st != channel_ready && st != channel_stopped && st != channel_closed)
        throw error(errc::corrupt_channel, "the channel's state word is " + std::to_string(st));
    return a;
}

/// The incarnation the channel's record names (Windows: part of the segment's and events'
/// names; Linux: 0). channel_not_found without a ready daemon's record.
inline std::uint64_t find_incarnation(std::string_view channel) {
    const LockFile n = LockFile::open_trusted(lock_path(channel), Trust{}, false);
    NameRecord r;
    if (!read_record(n, channel, r)) not_ready(channel, "has no daemon ready");
    return r.incarnation;
}

/// Whether the daemon that made the attached segment is alive (D held). A system call.
inline bool daemon_alive(const LockFile& segment_file) noexcept {
    return segment_file.held_by_other(segment_daemon_byte);
}

// ---- client slots -------------------------------------------------------------------------

/// Takes the first free client slot: its C_i lock, then its record. Returns the slot index
/// and the connection's generation; too_many_clients when every slot is held. `grant` is
/// called with the index once the lock is ours and before the record is written (a shell
/// makes the slot's pages writable there). A slot whose predecessor still has a command in the
/// queue is passed over: its staging area is the daemon's to read until then.
template <class Grant>
std::uint32_t claim_client_slot(const ChannelMap& m, LockFile& segment_file,
                                std::uint64_t& generation, Grant&& grant) {
    // A slot passed over for its predecessor's queued command frees once the daemon consumes
    // that command: connect looks again for at most this long before it says too_many_clients.
    constexpr auto reserved_slot_wait = std::chrono::milliseconds(100);
    std::uint32_t waiting = 0; // slots passed over in the last pass
    const auto start = std::chrono::steady_clock::now();
    // At least two passes: on Windows a probe of a slot's liveness (the venom tool's) takes its
    // lock for an instant, which must not make the last free slot look taken. More (1 ms apart)
    // only while a slot is held back for a queued command, up to reserved_slot_wait.
    for (unsigned pass = 0;; ++pass) {
        if (pass >= 2 &&
            (waiting == 0 || std::chrono::steady_clock::now() - start >= reserved_slot_wait))
            break;
        if (pass != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        waiting = 0;
        for (std::uint32_t i = 0; i < m.max_clients; ++i) {
            if (!segment_file.try_lock(segment_first_client_byte + i)) continue;
            // The lock makes slot i ours: whoever held it before has disconnected or died.
            if (queue_holds_client(m, i)) {
                segment_file.unlock(segment_first_client_byte + i);
                ++waiting;
                continue;
            }
            grant(i);
            // A dead predecessor's views (view_pins.hpp): its viewer mark, its pins.
            clear_viewer_mark(m, i, m.client(i).viewer.load(std::memory_order_relaxed));
            for (auto& pin : m.pins(i).pin) pin.store(0, std::memory_order_relaxed);
            ClientRecord& rec = m.client(i);
            // relaxed: only the slot's holder writes these; the release store of state publishes
            // them.
            generation = rec.generation.load(std::memory_order_relaxed) + 1;
            rec.generation.store(generation, std::memory_order_relaxed);
            rec.pid.store(current_pid(), std::memory_order_relaxed);
            m.client_requests(i).store(0, std::memory_order_relaxed);
            rec.connected_unix_ns.store(unix_now_ns(), std::memory_order_relaxed);
            m.response_wait(i).waiters.store(0, std::memory_order_relaxed); // a dead owner's count
            // SYNC POINT WRITE: connected
            rec.state.store(client_connected, std::memory_order_release);
            return i;
        }
    }
    std::string text = "all " + std::to_string(m.max_clients) + " client slots are taken";
    if (waiting != 0)
        text += " (" + std::to_string(waiting) +
                " of them free once the daemon has consumed a "
                "command their last shell left queued: retry)";
    throw error(errc::too_many_clients,
                text + "; raise ChannelConfig::max_clients or close a shell");
}

/// Gives client slot `id` back: its record first, then its lock.
inline void release_client_slot(const ChannelMap& m, LockFile& segment_file,
                                std::uint32_t id) noexcept {
    ClientRecord& rec = m.client(id);
    // relaxed: ordered before the daemon's acquire of state by the release store below.
    rec.pid.store(0, std::memory_order_relaxed);
    rec.state.store(client_free, std::memory_order_release); // SYNC POINT WRITE: client slot free
    segment_file.unlock(segment_first_client_byte + id);
}

/// Whether the shell holding client slot `id` is alive (C_id held). A system call.
inline bool client_alive(const LockFile& segment_file, std::uint32_t id) noexcept {
    return segment_file.held_by_other(segment_first_client_byte + id);
}

} // namespace venom::detail
