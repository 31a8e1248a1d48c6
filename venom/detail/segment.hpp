// venom/detail/segment.hpp - creating and opening a channel's managed segment.
//
// The segment is a boost::interprocess managed shared memory segment whose segment manager uses
// null_mutex_family: Boost's own segment mutex is a plain process-shared mutex that stays locked
// forever if its holder is killed (Boost.Interprocess #56/#65/#74), and venom never needs it:
// only the daemon allocates, once, before it marks the channel ready; shells only look up the
// control block's name after that (the daemon's "ready" lock byte tells them so), which reads
// the name index without changing it.
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
    case bip::not_found_error:
        throw error(errc::channel_not_found, what + ": " + e.what());
    case bip::security_error:
        throw error(errc::permission_denied, what + ": " + e.what());
    case bip::out_of_space_error:
        throw error(errc::out_of_memory, what + ": " + e.what());
    default:
        throw error(errc::system_failure, what + ": " + e.what());
    }
}

/// A mapped channel in this process: the Boost segment, the validated view, the events.
struct Segment {
    std::unique_ptr<managed_segment> seg;
    std::unique_ptr<EventSet> events = std::make_unique<EventSet>();
    ChannelMap map;

    /// Names the channel's events and hands them to the map; open them with events->open().
    void bind_events(const std::string& channel, std::uint64_t incarnation, const AccessControl& access) {
        events->bind(channel, incarnation, event_response_base + map.max_clients, access);
        map.events = events.get();
    }
};

/// Writes a fresh channel of configuration `c` into memory: the ControlBlock's identity,
/// configuration and region pointers, and every region's headers (whatever bytes were there:
/// Boost's allocator may leave its bookkeeping in a block). The channel is not yet marked
/// ready. Used by create_segment, and by tests on plain memory.
inline void lay_out_channel(ControlBlock& cb, const ChannelConfig& c, const Sizes& s,
                            unsigned char* slots, unsigned char* responses, unsigned char* clients,
                            unsigned char* state, std::uint64_t segment_size) noexcept {
    cb.magic = channel_magic;
    cb.version = layout_version;
    cb.data_size = c.data_size;
    cb.cmd_slots = c.cmd_slots;
    cb.max_clients = c.max_clients;
    cb.max_cmd_size = c.max_cmd_size;
    cb.max_response_size = c.max_response_size;
    cb.state_buffers = c.state_buffers;
    cb.daemon_pid = current_pid();
    cb.created_unix_ns = unix_now_ns();
    cb.wait_policy = static_cast<std::uint32_t>(c.wait);
    cb.slots = slots;
    cb.responses = responses;
    cb.clients = clients;
    cb.state_area = state;
    cb.slot_stride = s.slot_stride;
    cb.response_stride = s.response_stride;
    cb.state_stride = s.state_stride;
    cb.segment_size = segment_size;
    cb.head.store(0, std::memory_order_relaxed);
    cb.tail.store(0, std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < c.cmd_slots; ++i) {
        auto* slot = new (slots + i * s.slot_stride) CmdSlot();
        slot->seq.store(seq_free(i), std::memory_order_relaxed); // free for position i
    }
    for (std::uint32_t i = 0; i < c.max_clients; ++i) {
        new (responses + i * s.response_stride) ResponseSlot();
        auto* rec = new (clients + i * sizeof(ClientRecord)) ClientRecord();
        rec->pending_pos.store(no_pending, std::memory_order_relaxed);
    }
    for (std::uint32_t i = 0; i < c.state_buffers; ++i) new (state + i * s.state_stride) StateBuffer();
}

/// Creates the segment for `c` and builds every region. \pre the caller owns the channel's
/// daemon lock and has removed any stale segment of that name.
inline Segment create_segment(const std::string& seg_name, const ChannelConfig& c,
                              const AccessControl& access) {
    const Sizes s = Sizes::of(c);
    const std::uint64_t free_bytes = shm_free_bytes();
    if (free_bytes < s.segment)
        throw error(errc::out_of_memory,
                    "the channel needs " + std::to_string(s.segment) + " bytes, " +
                        shm_directory() + " has " + std::to_string(free_bytes) + " free");
    Segment out;
    try {
        out.seg = std::make_unique<managed_segment>(
            bip::create_only, seg_name.c_str(), static_cast<std::size_t>(s.segment), nullptr,
            access.permissions());
    } catch (const bip::interprocess_exception& e) {
        throw_interprocess(e, "creating shared memory " + seg_name);
    }
    reserve_segment(seg_name, s.segment);

    managed_segment& m = *out.seg;
    auto alloc = [&](std::uint64_t n) -> unsigned char* {
        void* p = m.allocate_aligned(static_cast<std::size_t>(n), cache_line, std::nothrow);
        if (p == nullptr)
            throw error(errc::system_failure,
                        "the segment is too small for its regions (venom bug: Sizes::of)");
        return static_cast<unsigned char*>(p);
    };
    auto* cb = new (alloc(sizeof(ControlBlock))) ControlBlock();
    lay_out_channel(*cb, c, s, alloc(s.slots), alloc(s.responses), alloc(s.clients), alloc(s.state),
                    s.segment);

    if (m.construct<control_anchor>(control_block_name)(cb) == nullptr)
        throw error(errc::system_failure, "naming the control block failed");
    out.map = ChannelMap::validate(cb, m.get_address(), m.get_size());
    // SYNC POINT WRITE: channel ready (pairs with the acquire load in open_segment).
    cb->state.store(channel_ready, std::memory_order_release);
    return out;
}

/// Opens an existing, complete segment and validates it. \pre the daemon's ready lock is held.
inline Segment open_segment(const std::string& seg_name) {
    Segment out;
    try {
        out.seg = std::make_unique<managed_segment>(bip::open_only, seg_name.c_str());
    } catch (const bip::interprocess_exception& e) {
        throw_interprocess(e, "opening shared memory " + seg_name);
    }
    managed_segment& m = *out.seg;
    control_anchor* anchor = m.find<control_anchor>(control_block_name).first;
    if (anchor == nullptr)
        throw error(errc::incompatible_layout,
                    "shared memory " + seg_name + " has no venom control block");
    auto* cb = anchor->get();
    out.map = ChannelMap::validate(cb, m.get_address(), m.get_size());
    // SYNC POINT READ: channel ready
    const auto st = cb->state.load(std::memory_order_acquire);
    if (st == channel_closed)
        throw error(errc::daemon_gone, "the daemon of " + seg_name + " has closed the channel");
    if (st != channel_ready)
        throw error(errc::corrupt_channel, "the channel's state word is " + std::to_string(st));
    return out;
}

} // namespace venom::detail
