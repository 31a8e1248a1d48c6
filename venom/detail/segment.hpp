// SPDX-License-Identifier: BSL-1.0
// venom/detail/segment.hpp - creating a channel's managed segment (the daemon), and the
// process-local handle on a mapped channel.
//
// The segment is a boost::interprocess managed shared memory segment whose segment manager uses
// null_mutex_family: Boost's own segment mutex is a plain process-shared mutex that stays locked
// forever if its holder is killed (Boost.Interprocess #56/#65/#74), and venom never needs it:
// only the daemon allocates, once, before it marks the channel ready. Only the daemon runs
// Boost's code over the segment, and only while it builds it (nobody else can write it yet).
// Shells never do: Boost's header and name index live inside the segment, where any process
// that can write the segment controls them (a size word Boost's open trusts, an index that
// find() walks without a bound). A shell maps the file itself, sized by fstat, and reaches the
// ControlBlock through the daemon's name record (liveness.hpp).
#pragma once

#include <venom/config.hpp>
#include <venom/detail/channel_map.hpp>
#include <venom/detail/command_queue.hpp>
#include <venom/detail/platform.hpp>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/indexes/iset_index.hpp>
#if defined(_WIN32)
#include <boost/interprocess/managed_windows_shared_memory.hpp>
#else
#include <boost/interprocess/managed_shared_memory.hpp>
#endif
#include <boost/interprocess/mem_algo/rbtree_best_fit.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <boost/interprocess/sync/mutex_family.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <string>

namespace venom::detail {

namespace bip = boost::interprocess;

#if defined(_WIN32)
// Native Windows shared memory: it exists while a process has it open (the daemon does, for
// its whole life), and it does not depend on Boost's boot-id file emulation.
using managed_segment =
    bip::basic_managed_windows_shared_memory<char, bip::rbtree_best_fit<bip::null_mutex_family>,
                                             bip::iset_index>;
#else
using managed_segment =
    bip::basic_managed_shared_memory<char, bip::rbtree_best_fit<bip::null_mutex_family>,
                                     bip::iset_index>;
#endif

/// The named object: an offset_ptr to the (cache-line aligned) ControlBlock.
using control_anchor = bip::offset_ptr<ControlBlock>;

[[noreturn]] inline void throw_interprocess(const bip::interprocess_exception& e,
                                            const std::string& what) {
    switch (e.get_error_code()) {
    case bip::not_found_error: throw error(errc::channel_not_found, what + ": " + e.what());
    case bip::security_error: throw error(errc::permission_denied, what + ": " + e.what());
    case bip::out_of_space_error: throw error(errc::out_of_memory, what + ": " + e.what());
    default: throw error(errc::system_failure, what + ": " + e.what());
    }
}

/// A mapped channel in this process: the daemon's Boost segment or a shell's own mapping, the
/// validated view, the events.
struct Segment {
    std::unique_ptr<managed_segment> seg; ///< the daemon's: Boost built the segment
    Mapping mapping;                      ///< a shell's or the tool's: mapped by venom, fstat-sized
    std::unique_ptr<EventSet> events = std::make_unique<EventSet>();
    ChannelMap map;

    bool mapped() const noexcept { return seg != nullptr || static_cast<bool>(mapping); }
    void reset() noexcept {
        map = ChannelMap{};
        seg.reset();
        mapping.reset();
    }

    /// Names the channel's events and hands them to the map; open them with events->open().
    void bind_events(const std::string& channel, std::uint64_t incarnation,
                     const AccessControl& access) {
        events->bind(channel, incarnation, event_response_base + map.max_clients, access);
        map.events = events.get();
    }
};

/// Writes a fresh channel of configuration `c` into `block` (s.block bytes, page aligned):
/// the ControlBlock's identity, configuration and region pointers, and every region's headers
/// (whatever bytes were there: Boost's allocator may leave its bookkeeping in a block). The
/// channel is not yet marked ready. Used by build_segment, and by tests on plain memory.
inline ControlBlock* lay_out_channel(unsigned char* block, const ChannelConfig& c, const Sizes& s,
                                     std::uint64_t segment_size) noexcept {
    unsigned char* state = block + s.control;
    unsigned char* responses = state + s.state;
    unsigned char* shared = responses + s.responses;
    unsigned char* clients = shared + s.shared;
    // The small regions whole; of the large ones (state, answers, staging) only the headers:
    // zeroing gigabytes would commit every page of a fresh file for nothing.
    std::memset(block, 0, static_cast<std::size_t>(s.control));
    std::memset(shared, 0, static_cast<std::size_t>(s.shared));
    auto* cb = new (block) ControlBlock();
    cb->magic = channel_magic;
    cb->version = layout_version;
    cb->data_size = c.data_size;
    cb->cmd_slots = c.cmd_slots;
    cb->max_clients = c.max_clients;
    cb->max_cmd_size = c.max_cmd_size;
    cb->max_response_size = c.max_response_size;
    cb->state_buffers = c.state_buffers;
    cb->daemon_pid = current_pid();
    cb->created_unix_ns = unix_now_ns();
    cb->wait_policy = static_cast<std::uint32_t>(c.wait);
    cb->ring_slots = s.ring_slots;
    cb->state_area = state;
    cb->responses = responses;
    cb->shared = shared;
    cb->clients = clients;
    cb->state_stride = s.state_stride;
    cb->response_stride = s.response_stride;
    cb->client_stride = s.client_stride;
    cb->segment_size = segment_size;
    cb->claim_timeout_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(c.claim_timeout).count());
    cb->page_size = static_cast<std::uint32_t>(s.page);
    cb->access = static_cast<std::uint32_t>(c.access);
    cb->spin_time_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(c.spin_time).count());
    new (shared) SharedLines();
    unsigned char* ring = shared + sizeof(SharedLines);
    for (std::uint32_t i = 0; i < s.ring_slots; ++i) {
        auto* slot = new (ring + i * cache_line) CmdSlot();
        slot->word.store(slot_free(i), std::memory_order_relaxed); // free for position i
    }
    for (std::uint32_t i = 0; i < c.max_clients; ++i) {
        new (responses + i * s.response_stride) ResponseSlot();
        unsigned char* area = clients + i * s.client_stride;
        std::memset(area, 0, client_fixed_bytes);
        new (area + client_record_line * cache_line) ClientRecord();
        new (area + client_wait_line * cache_line) WaitWord();
        new (area + client_pins_line * cache_line) ViewPins();
        new (area + client_staging_line * cache_line) StagingHeader();
    }
    for (std::uint32_t i = 0; i < c.state_buffers; ++i)
        new (state + i * s.state_stride) StateBuffer();
    return cb;
}

/// A shell's protections (layout.hpp): every page read-only but the shared region (the tail,
/// the events and the ring). \pre `mapping` is writable and holds `m`.
inline void protect_for_shell(const Mapping& mapping, const ChannelMap& m) {
    const std::uint64_t page = page_size();
    if (m.page_size % page != 0)
        throw error(errc::incompatible_layout,
                    "the channel's regions are aligned to " + std::to_string(m.page_size) +
                        " bytes, this process's pages are " + std::to_string(page));
    mapping.protect(0, round_up(mapping.size(), page), false);
    mapping.protect(m.offset_of(m.shared), m.shared_bytes, true);
}

/// Makes client area `id` writable in a shell that just took slot `id` (or read-only again,
/// when it gives the slot up).
inline void protect_client_area(const Mapping& mapping, const ChannelMap& m, std::uint32_t id,
                                bool writable) {
    mapping.protect(m.offset_of(m.client_area(id)), m.client_stride, writable);
}

/// The daemon's new segment: created, built and marked ready; `control_offset` is where the
/// ControlBlock is (for the name record).
struct CreatedSegment {
    Segment segment;
    std::uint64_t control_offset = 0;
};

/// Lays the channel out in the segment Boost just created for `out`, and marks it ready.
inline void build_segment(CreatedSegment& out, const ChannelConfig& c, const Sizes& s) {
    managed_segment& m = *out.segment.seg;
    void* p = m.allocate_aligned(static_cast<std::size_t>(s.block),
                                 static_cast<std::size_t>(s.page), std::nothrow);
    if (p == nullptr)
        throw error(errc::system_failure,
                    "the segment is too small for its regions (venom bug: Sizes::of)");
    ControlBlock* cb = lay_out_channel(static_cast<unsigned char*>(p), c, s, s.segment);
    if (m.construct<control_anchor>(control_block_name)(cb) == nullptr)
        throw error(errc::system_failure, "naming the control block failed");
    auto* base = static_cast<unsigned char*>(m.get_address());
    out.segment.map = ChannelMap::validate(cb, base, m.get_size());
    out.control_offset = static_cast<std::uint64_t>(reinterpret_cast<unsigned char*>(cb) - base);
    // SYNC POINT WRITE: channel ready (pairs with the acquire load in attach).
    cb->state.store(channel_ready, std::memory_order_release);
}

/// Creates the segment for `c` and builds every region. \pre the caller owns the channel's
/// name lock and has removed any leftover segment of that name (liveness.hpp, steps 4-5).
/// Boost creates the file with O_CREAT | O_EXCL (never through a link, never someone else's
/// file); a name taken meanwhile (only another user can) fails with permission_denied.
/// `segment_file` gets this process's descriptor of the liveness file at `live_path` (Linux:
/// the segment file itself, checked to be ours and of the size Boost gave it, and reserved in
/// /dev/shm before anything is written past Boost's header, so a full /dev/shm fails here with
/// out_of_memory, not later with SIGBUS).
inline CreatedSegment create_segment(const std::string& seg_name, const ChannelConfig& c,
                                     const AccessControl& access, LockFile& segment_file,
                                     const std::string& live_path) {
    const Sizes s = Sizes::of(c);
    const std::uint64_t free_bytes = shm_free_bytes();
    if (free_bytes < s.segment)
        throw error(errc::out_of_memory, "the channel needs " + std::to_string(s.segment) +
                                             " bytes, " + shm_directory() + " has " +
                                             std::to_string(free_bytes) + " free");
    CreatedSegment out;
    try {
        out.segment.seg = std::make_unique<managed_segment>(bip::create_only, seg_name.c_str(),
                                                            static_cast<std::size_t>(s.segment),
                                                            nullptr, access.permissions());
    } catch (const bip::interprocess_exception& e) {
        if (e.get_error_code() == bip::already_exists_error)
            throw error(
                errc::permission_denied,
                "shared memory " + seg_name +
                    " was created by another process while this "
                    "daemon held the channel's name: another user's file; let its owner or root "
                    "remove it, or use another channel name");
        throw_interprocess(e, "creating shared memory " + seg_name);
    }

    try {
        segment_file = open_liveness_file(live_path, access);
        check_own_segment_file(segment_file, s.segment);
        segment_file.reserve(s.segment);
        build_segment(out, c, s);
    } catch (...) {
        // Boost made the file for us (O_EXCL): it is ours to remove.
        out.segment.reset();
        if (segment_file.is_open()) {
            segment_file.unlink_if_linked();
            segment_file.close();
        } else {
            try {
                remove_own_leftover(live_path);
            } catch (...) {}
        }
        throw;
    }
    return out;
}

} // namespace venom::detail
