/* child.c - one child process: set-up after fork, its threads, and how it
 * stops.
 *
 * The main thread only waits, in poll(): on the pipe of death (graceful or
 * restart byte from the parent), on SIGTERM (EINTR), or on the listener
 * asking to stop (MaxConnectionsPerChild) through an eventfd.  It then sets
 * exit_mode, tells the listener, and joins the threads.  No signal is ever
 * sent between threads.
 *
 * exit_mode is written by the main thread (atomically) and read by every
 * thread; exit_requested is written by the listener and read by main.
 */
#include "hyb.h"
#include "cpuaff.h"

#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <poll.h>
#include <errno.h>

/* Set by the signal handler of the main thread; the only way a handler can
 * talk to the rest of the child. */
static volatile sig_atomic_t hyb_sigterm_seen;

static void hyb_sigterm(int sig)
{
    (void)sig;
    hyb_sigterm_seen = 1;
}

static void hyb_child_exit(hyb_child_t *ch, int code) __attribute__((noreturn));
static void hyb_child_exit(hyb_child_t *ch, int code)
{
    hyb_srv.retained->mpm->mpm_state = AP_MPMQ_STOPPING;
    if (ch && ch->pchild) {
        apr_pool_destroy(ch->pchild);
    }
    exit(code);
}

hyb_exit_mode_e hyb_child_exit_mode(hyb_child_t *ch)
{
    return (hyb_exit_mode_e)apr_atomic_read32(&ch->exit_mode);
}

/* Listener thread: ask the main thread for a graceful stop. */
void hyb_child_request_exit(hyb_child_t *ch)
{
    uint64_t one = 1;

    apr_atomic_set32(&ch->exit_requested, 1);
    if (write(ch->wake_fd, &one, sizeof(one)) < 0) {
        /* the counter cannot overflow here; nothing to do */
    }
}

/* The pipe of death is read without blocking: another child of the bucket
 * may take the byte between poll() and read(). */
static int hyb_child_pod_fd(hyb_child_t *ch)
{
    apr_os_file_t fd;

    apr_os_file_get(&fd, hyb_srv.pods[ch->bucket]->pod_in);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void hyb_child_close_other_buckets(hyb_child_t *ch)
{
    int i;

    for (i = 0; i < hyb_srv.num_buckets; i++) {
        if (i != ch->bucket) {
            ap_close_listeners_ex(hyb_srv.listen_buckets[i]);
            ap_mpm_podx_close(hyb_srv.pods[i]);
        }
    }
    ch->listeners = hyb_srv.listen_buckets[ch->bucket];
}

/* Keep only this slot's handoff socket (the parent holds them all). */
static void hyb_child_close_other_handoffs(hyb_child_t *ch)
{
    hyb_handoff_tab_t *t = hyb_srv.handoff;
    int i;

    if (!t || hyb_srv.one_process) {
        return;
    }
    for (i = 0; i < t->n; i++) {
        if (i != ch->slot && t->rx[i] >= 0) {
            close(t->rx[i]);
            t->rx[i] = -1;
        }
    }
}

/* HybridCPUAffinity: before any thread exists, so that they all inherit
 * the one CPU (the listener, the workers, modules' child_init threads). */
static void hyb_child_pin_cpu(hyb_child_t *ch)
{
    int cpu, err;

    if (!hyb_srv.cpu_affinity) {
        return;
    }
    err = hyb_cpuaff_apply(ch->slot, &cpu);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, err, ap_server_conf,
                     "HYB0308: HybridCPUAffinity: could not keep the child in "
                     "slot %d on one CPU; it runs on every CPU", ch->slot);
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ap_server_conf,
                 "HYB0309: child in slot %d runs on CPU %d", ch->slot, cpu);
}

static void hyb_child_init_process(hyb_child_t *ch)
{
    apr_status_t rv;

    hyb_child_pin_cpu(ch);
    ap_fatal_signal_child_setup(ap_server_conf);
    apr_pool_create(&ch->pchild, hyb_srv.pconf);
    apr_pool_tag(ch->pchild, "pchild");
#if AP_HAS_THREAD_LOCAL
    ap_thread_current_after_fork();
    if ((rv = ap_thread_main_create(&ch->main_thread, ch->pchild))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, ap_server_conf,
                     "HYB0301: could not initialize the main thread");
        hyb_child_exit(ch, APEXIT_CHILDFATAL);
    }
#else
    (void)rv;
#endif
    ch->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ch->wake_fd < 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, errno, ap_server_conf,
                     "HYB0307: eventfd() failed");
        hyb_child_exit(ch, APEXIT_CHILDSICK);
    }
    hyb_child_close_other_buckets(ch);
    hyb_child_close_other_handoffs(ch);
    ap_reopen_scoreboard(ch->pchild, NULL, 0);
    if (ap_run_drop_privileges(ch->pchild, ap_server_conf)) {
        hyb_child_exit(ch, APEXIT_CHILDFATAL);
    }
    /* Module threads created from child_init must not take our signals. */
    apr_setup_signal_thread();
    ap_run_child_init(ch->pchild, ap_server_conf);
    /* After child_init: pchild destroys its newest subpool first, so the
     * connection pools (under pruntime) left by an ungraceful exit (jobs
     * still queued) run their cleanups while what modules created in
     * child_init still exists (mod_http2's session cleanup used its
     * already destroyed workers and crashed the child). */
    apr_pool_create(&ch->pruntime, ch->pchild);
    apr_pool_tag(ch->pruntime, "hyb_runtime");
}

static apr_threadattr_t *hyb_thread_attr(hyb_child_t *ch)
{
    apr_threadattr_t *attr;
    apr_status_t rv;

    apr_threadattr_create(&attr, ch->pchild);
    apr_threadattr_detach_set(attr, 0);
    if (ap_thread_stacksize != 0) {
        rv = apr_threadattr_stacksize_set(attr, ap_thread_stacksize);
        if (rv != APR_SUCCESS && rv != APR_ENOTIMPL) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, ap_server_conf,
                         "HYB0302: ThreadStackSize of %" APR_SIZE_T_FMT
                         " is invalid; using the system default",
                         ap_thread_stacksize);
        }
    }
    return attr;
}

static void hyb_child_start_threads(hyb_child_t *ch)
{
    int n = hyb_srv.limits.threads_per_child, i;
    apr_threadattr_t *attr = hyb_thread_attr(ch);
    apr_status_t rv;

    ch->workers = apr_pcalloc(ch->pchild, n * sizeof(*ch->workers));
    ch->worker_fds = apr_palloc(ch->pchild, n * sizeof(*ch->worker_fds));
    for (i = 0; i < n; i++) {
        ch->worker_fds[i] = -1;
    }
    if ((rv = hyb_queue_create(&ch->queue, ch->pruntime)) != APR_SUCCESS
        || (rv = hyb_inbox_create(&ch->inbox, ch->pruntime)) != APR_SUCCESS
        || (rv = hyb_listener_main_create(ch)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, rv, ap_server_conf,
                     "HYB0303: could not set up the child's queues");
        hyb_child_exit(ch, APEXIT_CHILDSICK);
    }
    /* After hyb_child_pin_cpu; the listener follows the number of
     * children from then on (fdqueue.h, the wake gate). */
    ch->ncpu = hyb_cpuaff_count_self();
    hyb_queue_set_gate(ch->queue,
                       hyb_queue_gate_cap_for(ch->ncpu,
                                              hyb_status_serving_children()),
                       HYB_QUEUE_GATE_WINDOW, NULL);
    for (i = 0; i < n; i++) {
        hyb_worker_arg_t *wa = apr_palloc(ch->pchild, sizeof(*wa));
        wa->child = ch;
        wa->index = i;
        hyb_sb_worker_start(ch->slot, i);
        apr_atomic_inc32(&ch->live_threads);
        rv = ap_thread_create(&ch->workers[i], attr, hyb_worker_main, wa,
                              ch->pchild);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ALERT, rv, ap_server_conf,
                         "HYB0304: ap_thread_create: unable to create worker");
            hyb_child_exit(ch, APEXIT_CHILDSICK);
        }
    }
    apr_atomic_inc32(&ch->live_threads);
    rv = ap_thread_create(&ch->listener_thread, attr, hyb_listener_main, ch,
                          ch->pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, rv, ap_server_conf,
                     "HYB0305: ap_thread_create: unable to create listener");
        hyb_child_exit(ch, APEXIT_CHILDSICK);
    }
}

static void hyb_child_unblock(int sig, void (*fn)(int))
{
    struct sigaction sa;
    sigset_t set;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;              /* no SA_RESTART: the pod read must see EINTR */
    sigaction(sig, &sa, NULL);
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* Main thread: block until something says stop; return how. */
static hyb_exit_mode_e hyb_child_wait(hyb_child_t *ch)
{
    struct pollfd pfd[2];

    pfd[0].fd = hyb_child_pod_fd(ch);
    pfd[1].fd = ch->wake_fd;
    pfd[0].events = pfd[1].events = POLLIN;
    for (;;) {
        int rv = AP_MPM_PODX_NORESTART;
        if (poll(pfd, 2, -1) > 0 && (pfd[0].revents & (POLLIN | POLLHUP))) {
            rv = ap_mpm_podx_check(hyb_srv.pods[ch->bucket]);
        }
        if (rv == AP_MPM_PODX_RESTART || hyb_sigterm_seen) {
            return HYB_UNGRACEFUL;
        }
        if (rv == AP_MPM_PODX_GRACEFUL || apr_atomic_read32(&ch->exit_requested)) {
            return HYB_GRACEFUL;
        }
    }
}

/* Main thread: wait for the threads; an ungraceful stop waits at most a few
 * seconds for workers stuck in handlers.  Returns 0 when threads are still
 * running (the pools must then not be destroyed under them). */
static int hyb_child_join(hyb_child_t *ch, hyb_exit_mode_e mode)
{
    apr_status_t rv;
    int i;

    if (mode == HYB_UNGRACEFUL) {
        apr_time_t end = apr_time_now() + apr_time_from_sec(3);
        while (apr_atomic_read32(&ch->live_threads) && apr_time_now() < end) {
            apr_sleep(apr_time_from_msec(10));
        }
        if (apr_atomic_read32(&ch->live_threads)) {
            return 0;
        }
    }
    apr_thread_join(&rv, ch->listener_thread);
    for (i = 0; i < hyb_srv.limits.threads_per_child; i++) {
        apr_thread_join(&rv, ch->workers[i]);
    }
    return 1;
}

/* Main thread: a stop arrived.  Wake everything that could be blocked. */
static void hyb_child_stop(hyb_child_t *ch, hyb_exit_mode_e mode)
{
    int i;

    apr_atomic_set32(&ch->exit_mode, mode);
    hyb_srv.retained->mpm->mpm_state = AP_MPMQ_STOPPING;
    ap_run_child_stopping(ch->pchild, mode == HYB_GRACEFUL);
    hyb_listener_any_wake(ch);
    if (mode == HYB_UNGRACEFUL) {
        hyb_queue_interrupt_all(ch->queue);
        for (i = 0; i < hyb_srv.limits.threads_per_child; i++) {
            int fd = ch->worker_fds[i];
            if (fd >= 0) {
                shutdown(fd, SHUT_RDWR);
            }
        }
    }
}

/* Main thread, graceful stop: wait until the threads have finished what
 * they hold.  A SIGTERM meanwhile (the parent's GracefulShutdownTimeout ran
 * out, or a stop) turns it into an ungraceful stop, as under event; a
 * blocking join here used to leave SIGTERM unheard until SIGKILL. */
static hyb_exit_mode_e hyb_child_drain(hyb_child_t *ch)
{
    while (apr_atomic_read32(&ch->live_threads)) {
        if (hyb_sigterm_seen) {
            hyb_child_stop(ch, HYB_UNGRACEFUL);
            return HYB_UNGRACEFUL;
        }
        apr_sleep(apr_time_from_msec(20));  /* a signal cuts it short */
    }
    return HYB_GRACEFUL;
}

/* The one child context of this process (NULL in the parent).  Written
 * once by the main thread before any other thread starts. */
static hyb_child_t *hyb_the_child;

hyb_child_t *hyb_child_current(void)
{
    return hyb_the_child;
}

void hyb_child_main(int slot, int bucket)
{
    static hyb_child_t child;
    hyb_child_t *ch = &child;
    hyb_exit_mode_e mode;

    hyb_srv.retained->mpm->mpm_state = AP_MPMQ_STARTING;
    ch->slot = slot;
    ch->bucket = bucket;
    hyb_child_init_process(ch);
    if (apr_thread_mutex_create(&ch->susp_mutex, APR_THREAD_MUTEX_DEFAULT,
                                ch->pchild) != APR_SUCCESS) {
        hyb_child_exit(ch, APEXIT_CHILDSICK);
    }
    hyb_the_child = ch;
    hyb_child_start_threads(ch);
    hyb_srv.retained->mpm->mpm_state = AP_MPMQ_RUNNING;
    hyb_child_unblock(SIGTERM, hyb_sigterm);
    if (hyb_srv.one_process) {
        hyb_child_unblock(SIGINT, hyb_sigterm);     /* Ctrl-C under -X */
    }
    mode = hyb_child_wait(ch);
    hyb_child_stop(ch, mode);
    if (mode == HYB_GRACEFUL) {
        mode = hyb_child_drain(ch);
    }
    if (!hyb_child_join(ch, mode)) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, ap_server_conf,
                     "HYB0306: child %d exiting with %u threads still busy",
                     slot, apr_atomic_read32(&ch->live_threads));
        exit(0);
    }
    hyb_child_exit(ch, 0);
}
