// SPDX-License-Identifier: BSL-1.0
// python/venom_python.cpp - the `venom` Python module (pybind11): the same channels as C++,
// frames as numpy arrays without a copy. Public API only (venom/*.hpp).
//
// Design note
// ===========
// Ownership. A Python DaemonChannel / ShellChannel holds a "box" (DaemonBox / ShellBox) that
// holds the C++ channel through a std::shared_ptr. Every operation copies that pointer for its
// duration, so close() (or the object's garbage collection) only drops the box's reference: a
// helper thread still inside a request or run(), or a StateLoan, keeps the channel alive until it
// is done, and nothing is ever destroyed under a thread that uses it. A StateView holds a
// venom::StateView, which itself keeps its shell's connection and mapping (C++ guarantees it).
//
// Buffers. StateView (read-only) and StateLoan (writable) implement the buffer protocol with
// their own bf_getbuffer / bf_releasebuffer (set on the pybind11 type after it is made), which
// count the exports (memoryviews, numpy arrays) alive. Every export holds a reference to its
// view or loan, so neither is collected while numpy uses its bytes. release() of a view, and
// publish() / drop() of a loan, with exports outstanding raise BufferError (as mmap.close() does)
// instead of letting numpy read a buffer the daemon may reuse or write one readers already see.
// After release / publish / drop every access raises ValueError; a new export is refused.
// DaemonChannel.close() with an exported loan out raises BufferError too (the loan's bytes are
// the daemon's mapping).
//
// The GIL. Every wait releases it: request, wait_for_update, run, connect(connect_timeout=...),
// and the copies of large states (write_data, read_data). The handler of run()/poll() is called
// with the GIL held. Counters and flags touched by Python-facing code are guarded by the GIL;
// those a helper thread touches too by the box's mutex.
//
// Signals (Ctrl-C). Python runs signal handlers only in the main thread, between bytecodes or
// in PyErr_CheckSignals. A wait therefore never blocks the main thread for longer than
// wait_slice (50 ms) without calling PyErr_CheckSignals with the GIL held:
//  - wait_for_update and connect are idempotent: they wait in slices on the calling thread.
//  - request cannot be sliced: a venom request that timed out leaves its command queued, and
//    the shell's next request discards that answer and sends anew. Called from the main thread,
//    the request runs on the shell's helper thread (one per shell, started at its first
//    main-thread request, never touching Python objects), while the main thread waits for it
//    in slices. Ctrl-C then raises KeyboardInterrupt at once; the request goes on on the helper
//    until its answer, timeout or the daemon's end (as after a C++ timeout, its answer is
//    dropped), and the shell's next request or wait waits for it first. From any other thread
//    (which receives no KeyboardInterrupt) the request runs on the calling thread, GIL released.
//  - run(handler) from the main thread runs venom's run() on a helper thread while the main
//    thread waits in slices; a signal whose Python handler raises (KeyboardInterrupt) stops the
//    daemon (stop(): run() returns after the command in hand) and the exception propagates. A
//    Python signal handler that calls daemon.stop() simply ends run(). From another thread,
//    run() runs there, GIL released; stop() from any thread ends it.
//
// Handlers. handler(client_id, cmd) gets cmd as a read-only memoryview into the sender's
// staging area, valid only during the call: it is released when the handler returns (a handler
// that kept an export of it - a numpy array - gets a handler_failed answer saying so). An
// exception derived from Exception becomes a handler_failed answer carrying "Type: text"; the
// daemon goes on. A BaseException that is not an Exception (KeyboardInterrupt, SystemExit)
// stops the daemon and propagates out of run()/poll(). The return value is bytes-like, str
// (UTF-8) or None (an empty answer), copied into the client's response slot.
//
// Interpreter exit. A Python that is finalizing ends (pthread_exit) any thread that takes the
// GIL - a daemon thread still in run() or in a request. Unwinding from there through a
// destructor that takes the GIL again, or through a catch (...), aborts the process. So the GIL
// is taken back only through ReleaseGil, whose destructor parks the thread for good once the
// interpreter finalizes (the process is ending: nothing waits for such a thread), and a handler
// call made then answers handler_failed without Python. A thread that checks just before the
// interpreter starts finalizing can still be ended by it: the window is a few instructions.
//
// Process death. Nothing here adds shared state: a Python process killed at any instruction is
// a C++ venom process killed there - its client slot (an OS-released lock) is freed, a killed
// daemon is noticed by shells within daemon_check. Helper threads die with their process.
#include <venom/venom.hpp>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace py = pybind11;
using namespace std::chrono_literals;

namespace {

/// Parks the calling thread for good: the interpreter is exiting (see "Interpreter exit").
[[noreturn]] void park_forever() {
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

/// The GIL released for a scope, as py::gil_scoped_release, but taken back only while the
/// interpreter is not finalizing (see "Interpreter exit" above). \pre the GIL is held.
class ReleaseGil {
public:
    ReleaseGil() : state_(PyEval_SaveThread()) {}
    ~ReleaseGil() {
        if (_Py_IsFinalizing()) park_forever();
        PyEval_RestoreThread(state_);
    }
    ReleaseGil(const ReleaseGil&) = delete;
    ReleaseGil& operator=(const ReleaseGil&) = delete;

private:
    PyThreadState* state_;
};

/// The longest a wait keeps the main thread from Python's signal handlers.
constexpr std::chrono::milliseconds wait_slice{50};
/// States and commands at least this large are copied with the GIL released.
constexpr std::size_t release_gil_bytes = 64 * 1024;
/// A non-null pointer for buffers of zero bytes (the empty state, an empty command).
const unsigned char empty_bytes[1] = {0};

// ---- time: Python seconds (float, None) <-> std::chrono ----------------------------------------

std::chrono::nanoseconds to_ns(double seconds, const char* what) {
    if (!(seconds >= 0)) throw py::value_error(std::string(what) + " must be >= 0 seconds");
    const double ns = seconds * 1e9;
    if (ns >= 9.2e18) return std::chrono::nanoseconds::max();
    return std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
}
/// None: no limit.
std::chrono::nanoseconds to_ns_or_max(const std::optional<double>& seconds, const char* what) {
    return seconds ? to_ns(*seconds, what) : std::chrono::nanoseconds::max();
}
template <class D> double to_seconds(D d) { return std::chrono::duration<double>(d).count(); }
template <class D> D to_duration(double seconds, const char* what) {
    return std::chrono::duration_cast<D>(to_ns(seconds, what));
}

bool is_main_thread() {
    static const unsigned long main_ident =
        py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
    return PyThread_get_thread_ident() == main_ident;
}

/// Runs the Python signal handlers (main thread; a no-op elsewhere); throws what they raise.
/// \pre the GIL is held.
void check_signals() {
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

// ---- errors: venom::error -> venom.Error and its subclasses ------------------------------------

struct ErrorClasses {
    PyObject* base = nullptr;
    std::vector<std::pair<venom::errc, PyObject*>> by_code;
    PyObject* for_code(venom::errc e) const {
        for (const auto& p : by_code)
            if (p.first == e) return p.second;
        return base;
    }
};
ErrorClasses& error_classes() {
    static ErrorClasses classes; // filled at import, lives as long as the process (like the module)
    return classes;
}

/// Sets the Python error for a venom error code and message: the class of its code, with
/// `.code` a venom.errc member.
void set_venom_error(std::error_code ec, const char* what) {
    if (ec.category() != venom::venom_category()) { // std::errc::invalid_argument: misuse
        PyErr_SetString(PyExc_ValueError, what);
        return;
    }
    const auto code = static_cast<venom::errc>(ec.value());
    PyObject* cls = error_classes().for_code(code);
    // Lenient decoding: a C++ handler's what() need not be UTF-8.
    py::object text = py::reinterpret_steal<py::object>(
        PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "replace"));
    if (!text) return; // the call set its own error
    py::object inst = py::reinterpret_steal<py::object>(PyObject_CallOneArg(cls, text.ptr()));
    if (!inst) return;
    inst.attr("code") = py::cast(code);
    PyErr_SetObject(cls, inst.ptr());
}

[[noreturn]] void throw_venom(std::error_code ec, const std::string& what) {
    set_venom_error(ec, what.c_str());
    throw py::error_already_set();
}

/// "Type: text" of the Python exception being handled. \pre the GIL is held.
std::string exception_text(py::error_already_set& e) {
    std::string type = "exception";
    std::string text;
    try {
        type = py::str(e.type().attr("__name__"));
        text = py::str(e.value());
    } catch (...) { // a __str__ that raises: keep the type's name
        PyErr_Clear();
    }
    return text.empty() ? type : type + ": " + text;
}

// ---- buffers ------------------------------------------------------------------------------------

/// A contiguous read-only look at a bytes-like object (bytes, bytearray, memoryview, numpy...),
/// released on destruction. \pre constructed and destroyed with the GIL held.
class ReadBuffer {
public:
    explicit ReadBuffer(py::handle obj, const char* what) {
        if (PyUnicode_Check(obj.ptr())) { // str: its UTF-8 bytes
            Py_ssize_t n = 0;
            const char* p = PyUnicode_AsUTF8AndSize(obj.ptr(), &n);
            if (p == nullptr) throw py::error_already_set();
            keep_ = py::reinterpret_borrow<py::object>(obj);
            data_ = p;
            size_ = static_cast<std::size_t>(n);
            return;
        }
        if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_C_CONTIGUOUS) != 0) {
            // Not a buffer at all (TypeError): say what is wanted; anything else (a released
            // memoryview's ValueError) as it is.
            if (!PyErr_ExceptionMatches(PyExc_TypeError)) throw py::error_already_set();
            PyErr_Clear();
            throw py::type_error(std::string(what) +
                                 " must be bytes-like (bytes, bytearray, "
                                 "memoryview, a contiguous numpy array) or str, not " +
                                 std::string(py::str(obj.get_type().attr("__name__"))));
        }
        held_ = true;
        data_ = view_.buf;
        size_ = static_cast<std::size_t>(view_.len);
    }
    ReadBuffer(const ReadBuffer&) = delete;
    ReadBuffer& operator=(const ReadBuffer&) = delete;
    ~ReadBuffer() {
        if (held_) PyBuffer_Release(&view_);
    }
    const void* data() const { return size_ == 0 ? empty_bytes : data_; }
    std::size_t size() const { return size_; }

private:
    Py_buffer view_{};
    bool held_ = false;
    py::object keep_;
    const void* data_ = nullptr;
    std::size_t size_ = 0;
};

/// Fills a 1-D unsigned-byte buffer of `owner` (a StateView or StateLoan, which counts it).
int fill_buffer(Py_buffer* view, PyObject* owner, void* data, std::size_t size, bool readonly,
                int flags) {
    return PyBuffer_FillInfo(view, owner,
                             data != nullptr ? data : const_cast<unsigned char*>(empty_bytes),
                             static_cast<Py_ssize_t>(size), readonly ? 1 : 0, flags);
}

// ---- the daemon ---------------------------------------------------------------------------------

struct PyLoan;

struct DaemonBox {
    std::shared_ptr<venom::DaemonChannel> channel; ///< null once closed
    PyLoan* loan = nullptr; ///< the loan out, if any (GIL-guarded; one at a time per daemon)
    int runs = 0;           ///< run()/poll() calls in progress (GIL-guarded)

    std::shared_ptr<venom::DaemonChannel> get() const {
        if (!channel) throw py::value_error("operation on a closed venom.DaemonChannel");
        return channel;
    }
};

/// The bytes behind a handler's cmd memoryview: counts the buffers taken of it (the memoryview
/// and any view, slice or array derived from it share one export), and keeps the daemon - so
/// the staging area's mapping - alive while any of them exists: a kept one reads later bytes,
/// never unmapped memory.
struct PyCmd {
    const unsigned char* data = nullptr;
    std::size_t size = 0;
    int exports = 0;
    std::shared_ptr<venom::DaemonChannel> keep;
};

int cmd_getbuffer(PyObject* self, Py_buffer* buf, int flags) {
    try {
        PyCmd& c = py::handle(self).cast<PyCmd&>();
        if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE) {
            PyErr_SetString(PyExc_BufferError, "a handler's cmd is read-only");
            return -1;
        }
        if (fill_buffer(buf, self, const_cast<unsigned char*>(c.data), c.size, true, flags) != 0)
            return -1;
        ++c.exports;
        return 0;
    } catch (py::error_already_set& e) {
        e.restore();
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_BufferError, e.what());
    }
    return -1;
}
void cmd_releasebuffer(PyObject* self, Py_buffer*) {
    try {
        --py::handle(self).cast<PyCmd&>().exports;
    } catch (...) {
        PyErr_Clear();
    }
}

/// A handler call: Python's handler(client_id, cmd) -> bytes-like | str | None, its answer
/// copied into the client's response slot. Exceptions as the design note says.
struct HandlerCall {
    py::object handler;
    std::shared_ptr<venom::DaemonChannel> channel;
    py::object interrupt; ///< a BaseException (not Exception) the handler raised, to re-raise

    void operator()(std::uint32_t client, venom::ByteView cmd, venom::ResponseWriter& out) {
        // An exiting interpreter would end this thread inside the acquire (see "Interpreter
        // exit"): answer without Python.
        if (_Py_IsFinalizing()) throw std::runtime_error("the Python interpreter is exiting");
        py::gil_scoped_acquire gil; // first: every Python object below dies while it is held
        if (interrupt)              // stopping after an interrupt: answer the rest without Python
            throw std::runtime_error("the daemon was interrupted (" +
                                     std::string(py::str(interrupt.get_type().attr("__name__"))) +
                                     ") and is stopping");
        auto holder = std::make_unique<PyCmd>();
        holder->data = cmd.data();
        holder->size = cmd.size();
        holder->keep = channel;
        PyCmd* bytes_of_cmd = holder.get();
        py::object owner = py::cast(std::move(holder));
        py::memoryview view =
            py::reinterpret_steal<py::memoryview>(PyMemoryView_FromObject(owner.ptr()));
        if (!view) throw std::runtime_error("could not make the cmd memoryview");
        py::object answer;
        try {
            answer = handler(client, view);
        } catch (py::error_already_set& e) {
            release_cmd(view);
            if (!e.matches(PyExc_Exception)) { // KeyboardInterrupt, SystemExit: stop, re-raise
                interrupt = e.value();
                channel->stop();
                throw std::runtime_error("the daemon's handler was interrupted (" +
                                         exception_text(e) + ")");
            }
            throw std::runtime_error(exception_text(e));
        }
        // The answer first: it may be cmd itself, or a slice of it (an echo).
        if (!answer.is_none()) {
            ReadBuffer bytes(answer, "the handler's answer");
            out.assign(bytes.data(), bytes.size()); // message_too_large over max_response_size
        } else {
            out.resize(0);
        }
        answer = py::none();
        if (!release_cmd(view) || bytes_of_cmd->exports != 0)
            throw std::runtime_error(
                "the handler kept a buffer of its cmd (a memoryview or numpy array of it) after "
                "it returned; cmd is valid only during the call: copy it (bytes(cmd))");
    }

    /// Invalidates the handler's cmd view; false if exports of it are still alive.
    static bool release_cmd(py::memoryview& view) {
        PyObject* r = PyObject_CallMethod(view.ptr(), "release", nullptr);
        if (r != nullptr) {
            Py_DECREF(r);
            return true;
        }
        PyErr_Clear();
        return false;
    }
};

/// Re-raises a KeyboardInterrupt/SystemExit stashed by a handler. \pre the GIL is held.
void reraise_interrupt(HandlerCall& call) {
    if (!call.interrupt) return;
    py::object e = std::move(call.interrupt);
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(e.ptr())), e.ptr());
    throw py::error_already_set();
}

struct PyDaemon {
    std::shared_ptr<DaemonBox> box = std::make_shared<DaemonBox>();

    /// Counts a run()/poll() in progress, and refuses a second one (C++: one thread at a time;
    /// also a poll() from inside a handler). GIL held at both ends.
    struct RunGuard {
        DaemonBox& b;
        explicit RunGuard(DaemonBox& box) : b(box) {
            if (b.runs != 0)
                throw py::value_error(
                    "DaemonChannel: run() or poll() is already in progress (one "
                    "thread at a time, and not from inside a handler)");
            ++b.runs;
        }
        ~RunGuard() { --b.runs; }
        RunGuard(const RunGuard&) = delete;
        RunGuard& operator=(const RunGuard&) = delete;
    };

    void run(py::object handler) {
        auto channel = box->get();
        RunGuard guard(*box);
        HandlerCall call{std::move(handler), channel, py::object()};
        if (!is_main_thread()) { // no KeyboardInterrupt here: serve on this thread
            {
                ReleaseGil nogil;
                channel->run(call);
            }
            reraise_interrupt(call);
            return;
        }
        // The main thread: venom's run() on a helper, this thread checks signals between slices.
        struct Done {
            std::mutex m;
            std::condition_variable cv;
            bool done = false;
            std::exception_ptr error;
        };
        auto done = std::make_shared<Done>();
        std::thread server;
        {
            ReleaseGil nogil;
            server = std::thread([channel, done, &call] {
                // The helper's thread state, made once: each handler call re-takes the GIL cheaply.
                py::gil_scoped_acquire thread_state;
                {
                    ReleaseGil nogil2;
                    try {
                        channel->run(call);
                    } catch (...) {
                        done->error = std::current_exception();
                    }
                    std::lock_guard<std::mutex> lock(done->m);
                    done->done = true;
                }
                done->cv.notify_all();
            });
        }
        auto wait_done = [&](std::chrono::milliseconds slice) {
            ReleaseGil nogil;
            std::unique_lock<std::mutex> lock(done->m);
            return done->cv.wait_for(lock, slice, [&] { return done->done; });
        };
        auto finish = [&] { // stop() made run() return after the command in hand
            channel->stop();
            while (!wait_done(wait_slice)) {}
            ReleaseGil nogil;
            server.join();
        };
        try {
            while (!wait_done(wait_slice)) check_signals();
        } catch (...) {
            finish();
            throw;
        }
        {
            ReleaseGil nogil;
            server.join();
        }
        if (done->error) std::rethrow_exception(done->error);
        reraise_interrupt(call);
    }

    std::size_t poll(py::object handler) {
        auto channel = box->get();
        RunGuard guard(*box);
        HandlerCall call{std::move(handler), channel, py::object()};
        const std::size_t n = channel->poll(call);
        reraise_interrupt(call);
        return n;
    }
};

struct PyLoan {
    std::shared_ptr<DaemonBox> box;
    std::shared_ptr<venom::DaemonChannel> channel; ///< the loan's bytes are this mapping's
    venom::StateLoan loan;
    int exports = 0;

    ~PyLoan() {
        if (box && box->loan == this) box->loan = nullptr;
        // (the venom::StateLoan member drops an unpublished loan)
    }
    void check() const {
        if (!loan.active())
            throw py::value_error("operation on a venom.StateLoan that was published or dropped");
    }
    void check_no_exports(const char* what) const {
        if (exports != 0)
            throw py::buffer_error(std::string(what) + ": " + std::to_string(exports) +
                                   " buffer(s) of this loan (memoryview / numpy array) are still "
                                   "alive; delete them first (del array), then " +
                                   what);
    }
    void end() {
        channel.reset();
        if (box && box->loan == this) box->loan = nullptr;
    }
    void publish(std::optional<std::size_t> n) {
        check();
        check_no_exports("publish()");
        std::error_code ec;
        loan.publish(n ? *n : loan.size(), ec);
        if (ec == venom::errc::message_too_large)
            throw_venom(ec, "StateLoan.publish of " + std::to_string(n.value_or(0)) +
                                " bytes; the loan has " + std::to_string(loan.size()) + ": " +
                                ec.message());
        if (ec && loan.active()) throw_venom(ec, "StateLoan.publish: " + ec.message());
        end();
        if (ec)
            throw_venom(ec,
                        "StateLoan.publish: its DaemonChannel was closed; nothing was "
                        "published: " +
                            ec.message());
    }
    void drop() {
        if (!loan.active()) return;
        check_no_exports("drop()");
        loan.drop();
        end();
    }
};

int loan_getbuffer(PyObject* self, Py_buffer* view, int flags) {
    try {
        PyLoan& l = py::handle(self).cast<PyLoan&>();
        if (!l.loan.active()) {
            PyErr_SetString(PyExc_ValueError,
                            "a buffer of a venom.StateLoan that was published or dropped");
            return -1;
        }
        if (fill_buffer(view, self, l.loan.data(), l.loan.size(), false, flags) != 0) return -1;
        ++l.exports;
        return 0;
    } catch (py::error_already_set& e) {
        e.restore();
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_BufferError, e.what());
    }
    return -1;
}
void loan_releasebuffer(PyObject* self, Py_buffer*) {
    try {
        --py::handle(self).cast<PyLoan&>().exports;
    } catch (...) {
        PyErr_Clear();
    }
}

// ---- the shell ----------------------------------------------------------------------------------

/// A shell's state shared with its helper thread (guarded by `m`, but `channel`, which only
/// Python-facing code touches, under the GIL).
struct ShellBox {
    std::shared_ptr<venom::ShellChannel> channel; ///< null once closed (GIL-guarded)
    std::mutex m;
    std::condition_variable cv;
    /// A request or wait_for_update has the shell's waiting side (one at a time, as C++ wants).
    bool busy = false;
    // The helper thread's job (main-thread requests).
    bool helper_started = false;
    bool has_job = false, job_done = false, abandoned = false, quit = false;
    /// has_job and job_done, for the spinning phase of each side's wait (written under `m`,
    /// read without it; release/acquire: a true one shows the job's or the answer's fields).
    std::atomic<bool> posted{false}, ready{false};
    /// How long each side of the handoff spins before it sleeps on `cv`: the shell's own
    /// spin_time (a wait of spin_then_block), or wait_slice (busy_poll).
    std::chrono::nanoseconds spin{};
    std::shared_ptr<venom::ShellChannel> job_channel;
    std::vector<std::uint8_t> cmd, resp;
    std::size_t resp_len = 0;
    std::chrono::nanoseconds timeout{};
    std::error_code ec;
    std::string what; ///< the venom::error's what() when ec is set

    std::shared_ptr<venom::ShellChannel> get() const {
        if (!channel) throw py::value_error("operation on a closed venom.ShellChannel");
        return channel;
    }
};

/// One request: the answer's length in `resp` (grown to the response size), or ec and what.
void do_request(venom::ShellChannel& shell, const void* cmd, std::size_t n,
                std::vector<std::uint8_t>& resp, std::size_t& len, std::chrono::nanoseconds timeout,
                std::error_code& ec, std::string& what) {
    ec.clear();
    try {
        len = shell.request(cmd, n, resp.data(), resp.size(), timeout);
    } catch (const venom::error& e) {
        ec = e.code();
        what = e.what();
    } catch (const std::exception& e) {
        ec = venom::make_error_code(venom::errc::system_failure);
        what = e.what();
    }
}

/// Spins (yielding the CPU, so a peer on this core still runs) until done() or `budget` passed.
template <class Done> bool spin_until(Done done, std::chrono::nanoseconds budget) {
    const auto end = std::chrono::steady_clock::now() + budget;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::yield();
    }
    return true;
}

void helper_loop(std::shared_ptr<ShellBox> b) {
    std::unique_lock<std::mutex> lock(b->m);
    for (;;) {
        if (!b->has_job && !b->quit) { // the next request of a loop comes within microseconds
            lock.unlock();
            spin_until([&] { return b->posted.load(std::memory_order_acquire); }, b->spin);
            lock.lock();
        }
        b->cv.wait(lock, [&] { return b->has_job || b->quit; });
        if (!b->has_job) return; // quit, nothing in flight
        auto channel = std::move(b->job_channel);
        lock.unlock();
        std::error_code ec;
        std::string what;
        std::size_t len = 0;
        do_request(*channel, b->cmd.data(), b->cmd.size(), b->resp, len, b->timeout, ec, what);
        channel.reset(); // a shell closed meanwhile disconnects here
        lock.lock();
        b->ec = ec;
        b->what = std::move(what);
        b->resp_len = len;
        b->has_job = false;
        b->posted.store(false, std::memory_order_relaxed);
        b->job_done = true;
        if (b->abandoned) { // its caller was interrupted: nobody takes the answer
            b->abandoned = false;
            b->job_done = false;
            b->busy = false;
        }
        // release: the answer's fields above are visible to a caller that sees it
        b->ready.store(b->job_done, std::memory_order_release);
        b->cv.notify_all();
        if (b->quit) return;
    }
}

struct PyShell {
    std::shared_ptr<ShellBox> box = std::make_shared<ShellBox>();

    ~PyShell() { stop_helper(); }
    void stop_helper() {
        std::lock_guard<std::mutex> lock(box->m);
        box->quit = true;
        box->cv.notify_all();
    }

    /// Takes the shell's waiting side, waiting (GIL released, signals checked) while another
    /// request or wait has it. \pre the GIL is held.
    void acquire_busy() {
        { // the usual case, without giving up the GIL: nobody has it (`m` is only held briefly)
            std::lock_guard<std::mutex> lock(box->m);
            if (!box->busy) {
                box->busy = true;
                return;
            }
        }
        for (;;) {
            {
                ReleaseGil nogil;
                std::unique_lock<std::mutex> lock(box->m);
                if (box->cv.wait_for(lock, wait_slice, [&] { return !box->busy; })) {
                    box->busy = true;
                    return;
                }
            }
            check_signals();
        }
    }
    void release_busy() {
        std::lock_guard<std::mutex> lock(box->m);
        box->busy = false;
        box->cv.notify_all();
    }
    struct Busy {
        PyShell& s;
        explicit Busy(PyShell& shell) : s(shell) { s.acquire_busy(); }
        ~Busy() { s.release_busy(); }
    };

    py::bytes request(py::handle cmd, std::optional<double> timeout_s) {
        auto channel = box->get();
        const auto timeout = timeout_s ? to_ns(*timeout_s, "timeout")
                                       : std::chrono::nanoseconds(-1); // -1: the shell's default
        ReadBuffer in(cmd, "the command");
        if (!is_main_thread()) return request_here(*channel, in, timeout);
        return request_on_helper(channel, in, timeout);
    }

    py::bytes answer(const std::vector<std::uint8_t>& resp, std::size_t len) {
        return py::bytes(reinterpret_cast<const char*>(resp.data()), len);
    }

    py::bytes request_here(venom::ShellChannel& shell, const ReadBuffer& in,
                           std::chrono::nanoseconds timeout) {
        Busy busy(*this);
        std::error_code ec;
        std::string what;
        std::size_t len = 0;
        auto& resp = box->resp; // only the busy holder touches it
        resp.resize(shell.config().max_response_size);
        {
            ReleaseGil nogil;
            do_request(shell, in.data(), in.size(), resp, len,
                       timeout.count() < 0 ? default_timeout : timeout, ec, what);
        }
        if (ec) throw_venom(ec, what);
        return answer(resp, len);
    }

    py::bytes request_on_helper(std::shared_ptr<venom::ShellChannel> channel, const ReadBuffer& in,
                                std::chrono::nanoseconds timeout) {
        acquire_busy(); // released below, or by the helper if this caller is interrupted
        {
            std::lock_guard<std::mutex> lock(box->m);
            if (!box->helper_started) {
                std::thread(helper_loop, box).detach(); // holds the box; ends on quit
                box->helper_started = true;
            }
            // The command is copied: an interrupted caller leaves, the helper may still stage it.
            const auto* p = static_cast<const std::uint8_t*>(in.data());
            box->cmd.assign(p, p + in.size());
            box->resp.resize(channel->config().max_response_size);
            box->timeout = timeout.count() < 0 ? default_timeout : timeout;
            box->job_channel = std::move(channel);
            box->job_done = false;
            box->ready.store(false, std::memory_order_relaxed);
            box->has_job = true;
            box->posted.store(true, std::memory_order_release); // the job's fields above
        }
        box->cv.notify_all();
        for (bool first = true;; first = false) {
            {
                ReleaseGil nogil;
                // A quick answer is taken spinning (as venom's own waits do), then we sleep.
                if (first && spin_until([&] { return box->ready.load(std::memory_order_acquire); },
                                        box->spin))
                    break;
                std::unique_lock<std::mutex> lock(box->m);
                if (box->cv.wait_for(lock, wait_slice, [&] { return box->job_done; })) break;
            }
            try {
                check_signals();
            } catch (...) {
                std::lock_guard<std::mutex> lock(box->m);
                if (box->job_done) { // answered meanwhile: nobody will take it
                    box->job_done = false;
                    box->ready.store(false, std::memory_order_relaxed);
                    box->busy = false;
                    box->cv.notify_all();
                } else {
                    box->abandoned = true; // the helper frees the shell when the request ends
                }
                throw;
            }
        }
        std::error_code ec;
        std::string what;
        py::bytes out;
        {
            std::lock_guard<std::mutex> lock(box->m);
            box->job_done = false;
            box->ready.store(false, std::memory_order_relaxed);
            ec = box->ec;
            what = box->what;
            if (!ec) out = answer(box->resp, box->resp_len);
            box->busy = false;
        }
        box->cv.notify_all();
        if (ec) throw_venom(ec, what);
        return out;
    }

    bool wait_for_update(std::uint64_t seen, std::optional<double> timeout_s) {
        auto channel = box->get();
        const auto timeout = to_ns_or_max(timeout_s, "timeout");
        Busy busy(*this);
        const auto start = std::chrono::steady_clock::now();
        for (;;) {
            const auto left = timeout == std::chrono::nanoseconds::max()
                                  ? timeout
                                  : timeout - (std::chrono::steady_clock::now() - start);
            const auto slice = std::max(std::chrono::nanoseconds(0),
                                        std::min<std::chrono::nanoseconds>(left, wait_slice));
            bool updated = false;
            {
                ReleaseGil nogil; // a venom::error leaves with the GIL back
                updated = channel->wait_for_update(seen, slice);
            }
            if (updated) return true;
            if (left <= slice) return false;
            check_signals();
        }
    }

    std::chrono::nanoseconds default_timeout = std::chrono::nanoseconds::max();
};

struct PyView {
    venom::StateView view;
    int exports = 0;
    void check() const {
        if (!view.active()) throw py::value_error("operation on a released venom.StateView");
    }
    void release() {
        if (!view.active()) return;
        if (exports != 0)
            throw py::buffer_error(
                "cannot release a venom.StateView while " + std::to_string(exports) +
                " buffer(s) of it (memoryview / numpy array) are alive; delete them first "
                "(del array), or copy what you keep (array.copy())");
        view.release();
    }
};

int view_getbuffer(PyObject* self, Py_buffer* buf, int flags) {
    try {
        PyView& v = py::handle(self).cast<PyView&>();
        if (!v.view.active()) {
            PyErr_SetString(PyExc_ValueError, "a buffer of a released venom.StateView");
            return -1;
        }
        if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE) {
            PyErr_SetString(PyExc_BufferError,
                            "a venom.StateView is read-only: the daemon's published state");
            return -1;
        }
        if (fill_buffer(buf, self, const_cast<unsigned char*>(v.view.data()), v.view.size(), true,
                        flags) != 0)
            return -1;
        ++v.exports;
        return 0;
    } catch (py::error_already_set& e) {
        e.restore();
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_BufferError, e.what());
    }
    return -1;
}
void view_releasebuffer(PyObject* self, Py_buffer*) {
    try {
        --py::handle(self).cast<PyView&>().exports;
    } catch (...) {
        PyErr_Clear();
    }
}

template <class T>
void install_buffer(py::class_<T>& cls, getbufferproc get, releasebufferproc rel) {
    auto* type = reinterpret_cast<PyHeapTypeObject*>(cls.ptr());
    type->as_buffer.bf_getbuffer = get;
    type->as_buffer.bf_releasebuffer = rel;
    type->ht_type.tp_as_buffer = &type->as_buffer;
}

// ---- docstrings
// -----------------------------------------------------------------------------------

constexpr const char* module_doc = R"(venom: shared-memory IPC between processes of one machine.

A daemon (DaemonChannel.create) owns a named channel: a state that every shell reads without
locks, and a command queue with one answer slot per client (request/response). Shells
(ShellChannel.connect) read the state, view it in place (view(): zero copy, numpy-ready) and
send requests. The same channels as venom's C++ API: C++ and Python processes talk to each
other. Errors raise venom.Error (code: a venom.errc member) or one of its subclasses.

Every wait releases the GIL; in the main thread Ctrl-C interrupts a waiting request, run() or
wait_for_update() within ~50 ms with KeyboardInterrupt.)";

constexpr const char* shell_doc =
    R"(A client of a venom channel: reads the daemon's state and sends requests.

    with venom.ShellChannel.connect("my_channel", connect_timeout=5.0) as shell:
        state = shell.read_data()           # bytes: a consistent snapshot
        answer = shell.request(b"ping")     # bytes: this shell's own answer
        with shell.view() as v:             # the newest state in place, no copy
            frame = numpy.frombuffer(v, numpy.uint8)
            ...                             # del frame before the view is released

One request at a time per shell (a second thread's request waits for the first); use one shell
per thread for parallel requests. read_data, view and version work from any thread. close() (or
leaving the with block) frees the client slot, once views taken from it are released.)";

constexpr const char* daemon_doc = R"(The daemon (single writer) of a named venom channel.

    config = venom.ChannelConfig(64 * 1024, 128, 16)   # data_size, cmd_slots, max_clients
    with venom.DaemonChannel.create("my_channel", config) as daemon:
        daemon.write_data(b"hello")                    # publish a state
        def handler(client_id, cmd):                   # cmd: memoryview, valid during the call
            return b"pong" if cmd == b"ping" else b"?"
        daemon.run(handler)                            # until daemon.stop() or Ctrl-C

The handler runs with the GIL held; an exception it raises becomes a handler_failed answer
("Type: text") for that client, and the daemon goes on. close() (or leaving the with block)
closes the channel: waiting and new requests get DaemonGone.)";

} // namespace

PYBIND11_MODULE(_venom, m) {
    m.doc() = module_doc;
    m.attr("__version__") = std::to_string(VENOM_VERSION_MAJOR) + "." +
                            std::to_string(VENOM_VERSION_MINOR) + "." +
                            std::to_string(VENOM_VERSION_PATCH);
    m.def("process_id", &venom::process_id, "This process's id, as venom's tools show it.");

    // ---- enums ----
    py::enum_<venom::errc>(m, "errc",
                           "venom's error codes (the C++ venom::errc); Error.code is one.")
        .value("channel_not_found", venom::errc::channel_not_found)
        .value("channel_exists", venom::errc::channel_exists)
        .value("too_many_clients", venom::errc::too_many_clients)
        .value("message_too_large", venom::errc::message_too_large)
        .value("buffer_too_small", venom::errc::buffer_too_small)
        .value("timeout", venom::errc::timeout)
        .value("daemon_gone", venom::errc::daemon_gone)
        .value("incompatible_layout", venom::errc::incompatible_layout)
        .value("invalid_config", venom::errc::invalid_config)
        .value("invalid_name", venom::errc::invalid_name)
        .value("permission_denied", venom::errc::permission_denied)
        .value("handler_failed", venom::errc::handler_failed)
        .value("out_of_memory", venom::errc::out_of_memory)
        .value("corrupt_channel", venom::errc::corrupt_channel)
        .value("system_failure", venom::errc::system_failure)
        .value("state_busy", venom::errc::state_busy)
        .value("wrong_size", venom::errc::wrong_size);
    py::enum_<venom::WaitPolicy>(m, "WaitPolicy", "How a waiting side waits.")
        .value("spin_then_block", venom::WaitPolicy::spin_then_block,
               "spin for spin_time, then sleep in the kernel (~0% CPU idle); the default")
        .value("busy_poll", venom::WaitPolicy::busy_poll,
               "never sleep: lowest latency, one core at 100% while waiting");
    py::enum_<venom::Access>(m, "Access", "Who may open a channel (set by the daemon).")
        .value("owner_only", venom::Access::owner_only, "mode 0600 (default)")
        .value("group", venom::Access::group, "mode 0660")
        .value("everyone", venom::Access::everyone, "mode 0666");

    // ---- exceptions ----
    auto& errs = error_classes();
    errs.base = PyErr_NewExceptionWithDoc(
        "venom.Error",
        "A venom error. str(e) is venom's message (what happened and what to do); e.code is the "
        "venom.errc member.",
        PyExc_Exception, nullptr);
    m.attr("Error") = py::handle(errs.base);
    struct Sub {
        const char* name;
        venom::errc code;
        PyObject* also; // a builtin exception it also derives from, or null
        const char* doc;
    };
    const Sub subs[] = {
        {"TimeoutError", venom::errc::timeout, PyExc_TimeoutError,
         "errc.timeout: a request or wait passed its time limit (also a builtin TimeoutError)"},
        {"DaemonGone", venom::errc::daemon_gone, nullptr,
         "errc.daemon_gone: the daemon stopped serving, closed the channel or died"},
        {"ChannelNotFound", venom::errc::channel_not_found, nullptr,
         "errc.channel_not_found: no live daemon serves the name"},
        {"ChannelExists", venom::errc::channel_exists, nullptr,
         "errc.channel_exists: a live daemon already serves the name"},
        {"TooManyClients", venom::errc::too_many_clients, nullptr,
         "errc.too_many_clients: every client slot is taken"},
        {"MessageTooLarge", venom::errc::message_too_large, nullptr,
         "errc.message_too_large: a command, answer or state over its configured maximum"},
        {"HandlerFailed", venom::errc::handler_failed, nullptr,
         "errc.handler_failed: the daemon's handler raised; the message carries its text"},
        {"StateBusy", venom::errc::state_busy, nullptr,
         "errc.state_busy: a loan is out, or views pin every state buffer but the newest"},
        {"InvalidConfig", venom::errc::invalid_config, nullptr,
         "errc.invalid_config: a ChannelConfig / option value is out of range"},
        {"PermissionDenied", venom::errc::permission_denied, PyExc_PermissionError,
         "errc.permission_denied: the channel's files are not trusted or not accessible (also a "
         "builtin PermissionError)"},
    };
    for (const Sub& s : subs) {
        const std::string qual = std::string("venom.") + s.name;
        py::tuple bases = s.also ? py::make_tuple(py::handle(errs.base), py::handle(s.also))
                                 : py::make_tuple(py::handle(errs.base));
        PyObject* cls = PyErr_NewExceptionWithDoc(qual.c_str(), s.doc, bases.ptr(), nullptr);
        if (cls == nullptr) throw py::error_already_set();
        errs.by_code.emplace_back(s.code, cls);
        m.attr(s.name) = py::handle(cls);
    }
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const venom::error& e) {
            set_venom_error(e.code(), e.what());
        }
    });

    // ---- ChannelConfig ----
    py::class_<venom::ChannelConfig>(
        m, "ChannelConfig",
        "A channel's shape, fixed at creation (C++ venom::ChannelConfig). "
        "Times are in seconds.")
        .def(py::init([](std::size_t data_size, std::uint32_t cmd_slots, std::uint32_t max_clients,
                         std::uint32_t max_cmd_size, std::uint32_t max_response_size,
                         std::uint32_t state_buffers, venom::WaitPolicy wait, double spin_time,
                         venom::Access access, double claim_timeout) {
                 venom::ChannelConfig c{data_size, cmd_slots, max_clients};
                 c.max_cmd_size = max_cmd_size;
                 c.max_response_size = max_response_size;
                 c.state_buffers = state_buffers;
                 c.wait = wait;
                 c.spin_time = to_duration<std::chrono::microseconds>(spin_time, "spin_time");
                 c.access = access;
                 c.claim_timeout =
                     to_duration<std::chrono::milliseconds>(claim_timeout, "claim_timeout");
                 return c;
             }),
             py::arg("data_size"), py::arg("cmd_slots"), py::arg("max_clients"), py::kw_only(),
             py::arg("max_cmd_size") = 4096, py::arg("max_response_size") = 4096,
             py::arg("state_buffers") = 3, py::arg("wait") = venom::WaitPolicy::spin_then_block,
             py::arg("spin_time") = 50e-6, py::arg("access") = venom::Access::owner_only,
             py::arg("claim_timeout") = 0.005,
             "ChannelConfig(data_size, cmd_slots, max_clients, *, max_cmd_size=4096, "
             "max_response_size=4096, state_buffers=3, wait=WaitPolicy.spin_then_block, "
             "spin_time=50e-6, access=Access.owner_only, claim_timeout=0.005). Checked by "
             "DaemonChannel.create (InvalidConfig names the bad field).")
        .def_readwrite("data_size", &venom::ChannelConfig::data_size, "largest state (bytes)")
        .def_readwrite("cmd_slots", &venom::ChannelConfig::cmd_slots, "command queue slots")
        .def_readwrite("max_clients", &venom::ChannelConfig::max_clients, "shells at once")
        .def_readwrite("max_cmd_size", &venom::ChannelConfig::max_cmd_size, "largest command")
        .def_readwrite("max_response_size", &venom::ChannelConfig::max_response_size,
                       "largest answer")
        .def_readwrite("state_buffers", &venom::ChannelConfig::state_buffers,
                       "state buffers the seqlock rotates through (2..8)")
        .def_readwrite("wait", &venom::ChannelConfig::wait, "how the daemon waits for commands")
        .def_property(
            "spin_time", [](const venom::ChannelConfig& c) { return to_seconds(c.spin_time); },
            [](venom::ChannelConfig& c, double s) {
                c.spin_time = to_duration<std::chrono::microseconds>(s, "spin_time");
            },
            "spin before blocking (seconds)")
        .def_readwrite("access", &venom::ChannelConfig::access, "who may connect")
        .def_property(
            "claim_timeout",
            [](const venom::ChannelConfig& c) { return to_seconds(c.claim_timeout); },
            [](venom::ChannelConfig& c, double s) {
                c.claim_timeout = to_duration<std::chrono::milliseconds>(s, "claim_timeout");
            },
            "queue repair delay after a stray write (seconds, 0.001..10)")
        .def("validate", &venom::ChannelConfig::validate,
             "Raises InvalidConfig naming a bad field.")
        .def("__repr__", [](const venom::ChannelConfig& c) {
            return "venom.ChannelConfig(data_size=" + std::to_string(c.data_size) +
                   ", cmd_slots=" + std::to_string(c.cmd_slots) +
                   ", max_clients=" + std::to_string(c.max_clients) +
                   ", max_cmd_size=" + std::to_string(c.max_cmd_size) +
                   ", max_response_size=" + std::to_string(c.max_response_size) +
                   ", state_buffers=" + std::to_string(c.state_buffers) + ")";
        });

    // ---- a handler's cmd: the object behind its memoryview (internal) ----
    py::class_<PyCmd> cmd_cls(m, "_Command", py::buffer_protocol(),
                              "The bytes of a command, behind the handler's cmd memoryview.");
    install_buffer(cmd_cls, cmd_getbuffer, cmd_releasebuffer);

    // ---- StateView ----
    py::class_<PyView> view_cls(
        m, "StateView", py::buffer_protocol(),
        "The newest state read in place (ShellChannel.view()): a read-only buffer, no copy.\n\n"
        "memoryview(v), numpy.asarray(v), numpy.frombuffer(v, dtype, count, offset) share its "
        "memory, which does not change while the view is held. release() (or leaving its with "
        "block) lets the daemon reuse the buffer; with arrays of it still alive it raises "
        "BufferError (del them first). After release every access raises ValueError.");
    install_buffer(view_cls, view_getbuffer, view_releasebuffer);
    view_cls
        .def_property_readonly(
            "version",
            [](const PyView& v) {
                v.check();
                return v.view.version();
            },
            "which version the bytes are (0: the empty state)")
        .def_property_readonly(
            "nbytes",
            [](const PyView& v) {
                v.check();
                return v.view.size();
            },
            "the state's length in bytes")
        .def("__len__",
             [](const PyView& v) {
                 v.check();
                 return v.view.size();
             })
        .def_property_readonly(
            "address",
            [](const PyView& v) {
                v.check();
                return reinterpret_cast<std::uintptr_t>(v.view.data());
            },
            "the bytes' address in this process (64-byte aligned)")
        .def_property_readonly("released", [](const PyView& v) { return !v.view.active(); })
        .def_property_readonly(
            "exports", [](const PyView& v) { return v.exports; },
            "buffers (memoryviews, numpy arrays) of it alive now")
        .def(
            "tobytes",
            [](const PyView& v) {
                v.check();
                return py::bytes(reinterpret_cast<const char*>(v.view.data()), v.view.size());
            },
            "A copy of the bytes.")
        .def("release", &PyView::release,
             "Lets the version go. BufferError while buffers of it are alive.")
        // numpy.asarray tries the buffer protocol first and, when that refuses (a released
        // view), falls back to __array__: which raises, instead of an object array.
        .def(
            "__array__",
            [](py::object self, py::object dtype) {
                self.cast<const PyView&>().check();
                py::object np = py::module_::import("numpy");
                py::object a = np.attr("frombuffer")(self, np.attr("uint8"));
                return dtype.is_none() ? a : a.attr("astype")(dtype);
            },
            py::arg("dtype") = py::none())
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](PyView& v, py::args) { v.release(); })
        .def("__repr__", [](const PyView& v) {
            if (!v.view.active()) return std::string("<venom.StateView released>");
            return "<venom.StateView version " + std::to_string(v.view.version()) + ", " +
                   std::to_string(v.view.size()) + " bytes>";
        });

    // ---- StateLoan ----
    py::class_<PyLoan> loan_cls(
        m, "StateLoan", py::buffer_protocol(),
        "The next state's buffer, lent for writing in place (DaemonChannel.loan(n)): a writable "
        "buffer of n bytes, 64-byte aligned, no copy.\n\n"
        "    loan = daemon.loan(n)\n"
        "    a = numpy.frombuffer(loan, numpy.uint8); a[:] = ...; del a\n"
        "    loan.publish()          # readers see it from now on (publish(m): the first m "
        "bytes)\n\n"
        "Readers see nothing of it before publish(). drop() (or leaving its with block "
        "unpublished) abandons it. publish()/drop() raise BufferError while buffers of it are "
        "alive; afterwards every access raises ValueError.");
    install_buffer(loan_cls, loan_getbuffer, loan_releasebuffer);
    loan_cls
        .def_property_readonly(
            "version",
            [](const PyLoan& l) {
                l.check();
                return l.loan.version();
            },
            "the version readers will see once it is published")
        .def_property_readonly("nbytes",
                               [](const PyLoan& l) {
                                   l.check();
                                   return l.loan.size();
                               })
        .def("__len__",
             [](const PyLoan& l) {
                 l.check();
                 return l.loan.size();
             })
        .def_property_readonly("address",
                               [](const PyLoan& l) {
                                   l.check();
                                   return reinterpret_cast<std::uintptr_t>(l.loan.data());
                               })
        .def_property_readonly("active", [](const PyLoan& l) { return l.loan.active(); })
        .def(
            "__array__",
            [](py::object self, py::object dtype) {
                self.cast<const PyLoan&>().check();
                py::object np = py::module_::import("numpy");
                py::object a = np.attr("frombuffer")(self, np.attr("uint8"));
                return dtype.is_none() ? a : a.attr("astype")(dtype);
            },
            py::arg("dtype") = py::none())
        .def("publish", &PyLoan::publish, py::arg("nbytes") = py::none(),
             "Publishes the loan (or its first nbytes) as the next state.")
        .def("drop", &PyLoan::drop, "Abandons the loan unpublished.")
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](PyLoan& l, py::args) { l.drop(); })
        .def("__repr__", [](const PyLoan& l) {
            if (!l.loan.active()) return std::string("<venom.StateLoan ended>");
            return "<venom.StateLoan of " + std::to_string(l.loan.size()) + " bytes, version " +
                   std::to_string(l.loan.version()) + ">";
        });

    // ---- DaemonChannel ----
    py::class_<PyDaemon>(m, "DaemonChannel", daemon_doc)
        .def_static(
            "create",
            [](const std::string& name, const venom::ChannelConfig& config) {
                auto d = std::make_unique<PyDaemon>();
                {
                    ReleaseGil nogil; // reserves the segment in /dev/shm
                    d->box->channel = std::make_shared<venom::DaemonChannel>(
                        venom::DaemonChannel::create(name, config));
                }
                return d;
            },
            py::arg("name"), py::arg("config"),
            "Creates channel `name`. Raises ChannelExists, InvalidConfig, PermissionDenied, "
            "venom.Error (invalid_name, out_of_memory...). A dead daemon's channel is taken over.")
        .def(
            "write_data",
            [](PyDaemon& d, py::handle data) {
                auto channel = d.box->get();
                ReadBuffer in(data, "the state");
                if (in.size() < release_gil_bytes) {
                    channel->write_data(in.data(), in.size());
                    return;
                }
                ReleaseGil nogil;
                channel->write_data(in.data(), in.size());
            },
            py::arg("data"),
            "Publishes a new state (bytes-like or str). MessageTooLarge over data_size; "
            "StateBusy while a loan is out or views pin every other buffer.")
        .def(
            "loan",
            [](PyDaemon& d, std::size_t n) {
                auto channel = d.box->get();
                auto l = std::make_unique<PyLoan>();
                l->loan = channel->loan(n);
                l->box = d.box;
                l->channel = std::move(channel);
                d.box->loan = l.get();
                return l;
            },
            py::arg("nbytes"),
            "Lends the next state's buffer (nbytes <= data_size) for writing in place: a "
            "StateLoan. StateBusy while another loan is out.")
        .def("run", &PyDaemon::run, py::arg("handler"),
             "Serves requests until stop(): handler(client_id, cmd: memoryview) -> bytes-like | "
             "str | None, called with the GIL held. Waits with the GIL released. In the main "
             "thread Ctrl-C (or another signal whose handler raises) stops it and raises; a "
             "signal handler that calls stop() just ends it.")
        .def("poll", &PyDaemon::poll, py::arg("handler"),
             "Handles the commands already queued, never waits; returns how many.")
        .def(
            "stop",
            [](PyDaemon& d) {
                if (d.box->channel) d.box->channel->stop();
            },
            "Stops serving: run() returns after the command in hand. Any thread, a signal "
            "handler; never raises.")
        .def_property_readonly(
            "version", [](PyDaemon& d) { return d.box->get()->version(); },
            "states published so far")
        .def_property_readonly("name", [](PyDaemon& d) { return d.box->get()->name(); })
        .def_property_readonly("config", [](PyDaemon& d) { return d.box->get()->config(); })
        .def(
            "busy_reason", [](PyDaemon& d) { return d.box->get()->busy_reason(); },
            "Why a write is refused now (state_busy), or ''.")
        .def_property_readonly("closed", [](PyDaemon& d) { return !d.box->channel; })
        .def(
            "close",
            [](PyDaemon& d) {
                DaemonBox& b = *d.box;
                if (!b.channel) return;
                if (b.loan != nullptr) {
                    if (b.loan->exports != 0)
                        throw py::buffer_error(
                            "DaemonChannel.close(): buffers of its StateLoan "
                            "are alive (their bytes are the channel's); delete "
                            "them, publish or drop the loan first");
                    b.loan->drop();
                }
                b.channel->stop(); // a run() in progress returns, then drops its reference
                auto last = std::move(b.channel);
                ReleaseGil nogil; // unmapping a large segment takes a while
                last.reset();
            },
            "Closes the channel (stops a run() in progress): shells get DaemonGone.")
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](py::object self, py::args) { self.attr("close")(); })
        .def("__repr__", [](PyDaemon& d) {
            if (!d.box->channel) return std::string("<venom.DaemonChannel closed>");
            return "<venom.DaemonChannel \"" + d.box->channel->name() + "\">";
        });

    // ---- ShellChannel ----
    py::class_<PyShell>(m, "ShellChannel", shell_doc)
        .def_static(
            "connect",
            [](const std::string& name, venom::WaitPolicy wait, double spin_time,
               std::optional<double> request_timeout, double daemon_check, double connect_timeout,
               std::optional<std::uint32_t> trusted_uid) {
                venom::ShellOptions o;
                o.wait = wait;
                o.spin_time = to_duration<std::chrono::microseconds>(spin_time, "spin_time");
                o.request_timeout = to_ns_or_max(request_timeout, "request_timeout");
                o.daemon_check =
                    to_duration<std::chrono::milliseconds>(daemon_check, "daemon_check");
                if (trusted_uid) o.trusted_uid = *trusted_uid;
                // connect_timeout is waited out here, in slices, so Ctrl-C works: each try
                // returns at once.
                const auto limit = to_ns(connect_timeout, "connect_timeout");
                o.connect_timeout = std::chrono::milliseconds(0);
                const auto start = std::chrono::steady_clock::now();
                auto s = std::make_unique<PyShell>();
                s->default_timeout = o.request_timeout;
                s->box->spin = o.wait == venom::WaitPolicy::busy_poll
                                   ? std::chrono::nanoseconds(wait_slice)
                                   : std::chrono::nanoseconds(o.spin_time);
                for (;;) {
                    std::optional<venom::error> failed;
                    {
                        ReleaseGil nogil;
                        try {
                            s->box->channel = std::make_shared<venom::ShellChannel>(
                                venom::ShellChannel::connect(name, o));
                        } catch (const venom::error& e) {
                            failed.emplace(e);
                        }
                        if (failed && failed->code() == venom::errc::channel_not_found &&
                            std::chrono::steady_clock::now() - start < limit)
                            std::this_thread::sleep_for(venom::ShellChannel::connect_retry_pause);
                    }
                    if (!failed) return s;
                    if (failed->code() != venom::errc::channel_not_found ||
                        std::chrono::steady_clock::now() - start >= limit)
                        throw *failed;
                    check_signals();
                }
            },
            py::arg("name"), py::kw_only(), py::arg("wait") = venom::WaitPolicy::spin_then_block,
            py::arg("spin_time") = 50e-6, py::arg("request_timeout") = py::none(),
            py::arg("daemon_check") = 0.02, py::arg("connect_timeout") = 0.0,
            py::arg("trusted_uid") = py::none(),
            "Connects to channel `name` (options as C++ venom::ShellOptions, times in seconds; "
            "request_timeout None: no limit). connect_timeout > 0 retries while no daemon "
            "serves the name. Raises ChannelNotFound, TooManyClients, PermissionDenied, "
            "venom.Error.")
        .def_property_readonly(
            "client_id", [](PyShell& s) { return s.box->get()->client_id(); },
            "this shell's client slot, 0..max_clients-1")
        .def(
            "read_data",
            [](PyShell& s) {
                auto channel = s.box->get();
                // Into a bytes object of the state's size; a state that grew meanwhile: again.
                std::size_t cap = static_cast<std::size_t>(channel->config().data_size);
                for (;;) {
                    PyObject* raw =
                        PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(cap));
                    if (raw == nullptr) throw py::error_already_set();
                    py::object out = py::reinterpret_steal<py::object>(raw);
                    std::error_code ec;
                    std::size_t n = 0;
                    {
                        std::optional<ReleaseGil> nogil;
                        if (cap >= release_gil_bytes) nogil.emplace();
                        n = channel->read_data(PyBytes_AS_STRING(raw), cap, ec);
                    }
                    if (ec == venom::errc::buffer_too_small) {
                        cap = n;
                        continue;
                    }
                    if (ec) throw_venom(ec, "read_data: " + ec.message());
                    if (_PyBytes_Resize(&raw, static_cast<Py_ssize_t>(n)) != 0) {
                        out.release();
                        throw py::error_already_set();
                    }
                    out.release();
                    return py::reinterpret_steal<py::bytes>(raw);
                }
            },
            "The state as bytes (a copy; never torn). Use view() for no copy.")
        .def(
            "view",
            [](PyShell& s) {
                auto channel = s.box->get();
                auto v = std::make_unique<PyView>();
                v->view = channel->view();
                return v;
            },
            "The newest state in place: a StateView (read-only buffer, zero copy).")
        .def("request", &PyShell::request, py::arg("cmd"), py::arg("timeout") = py::none(),
             "Sends cmd (bytes-like or str) and returns this request's answer (bytes). Waits "
             "with the GIL released, at most timeout seconds (None: connect's request_timeout). "
             "Raises TimeoutError, DaemonGone, HandlerFailed (the handler's text), "
             "MessageTooLarge. Ctrl-C interrupts it in the main thread (KeyboardInterrupt).")
        .def_property_readonly(
            "version", [](PyShell& s) { return s.box->get()->version(); },
            "states the daemon has published (0: none yet)")
        .def("wait_for_update", &PyShell::wait_for_update, py::arg("seen"),
             py::arg("timeout") = py::none(),
             "Waits until version > seen: True, or False after timeout seconds (None: no "
             "limit). GIL released; DaemonGone once the daemon is gone.")
        .def_property_readonly("name", [](PyShell& s) { return s.box->get()->name(); })
        .def_property_readonly(
            "config", [](PyShell& s) { return s.box->get()->config(); },
            "the channel's sizes and counts, as the daemon created it")
        .def_property_readonly("last_error_text",
                               [](PyShell& s) { return s.box->get()->last_error_text(); })
        .def_property_readonly("closed", [](PyShell& s) { return !s.box->channel; })
        .def(
            "close",
            [](PyShell& s) {
                s.stop_helper();
                auto last = std::move(s.box->channel); // the box's pointer: GIL-guarded
                ReleaseGil nogil;
                last.reset(); // a request still on the helper keeps its own reference
            },
            "Disconnects (the client slot is freed once views of it are released).")
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](py::object self, py::args) { self.attr("close")(); })
        .def("__repr__", [](PyShell& s) {
            if (!s.box->channel) return std::string("<venom.ShellChannel closed>");
            return "<venom.ShellChannel \"" + s.box->channel->name() + "\" client " +
                   std::to_string(s.box->channel->client_id()) + ">";
        });
}
