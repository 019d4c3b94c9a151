package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/madx-project/madx/internal/inprocess"
	"github.com/madx-project/madx/server"
)

// serveConfig is everything `madx serve` is told.
type serveConfig struct {
	store            storeConfig
	addr             string
	basePath         string
	baseURL          string
	maxBody          int64
	maxBundleEntries int
	load             stringList
	logLevel         string
	shutdownTimeout  time.Duration
	terminology      string
	subjectCheck     string
	asyncRetention   time.Duration
	gcPercent        int
	security         securityConfig
}

// defaultGCPercent trades memory for CPU. Ingest allocates about 150 KB per
// report around a live heap of tens of MB, so Go's default (100) collects
// dozens of times a second; at 400 the server used 15-20% less CPU per
// report ingesting Bundles, for a peak RSS of about 400 MiB instead of
// 190 MiB (docs/benchmarks.md).
const defaultGCPercent = 400

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c serveConfig
	fs := flag.NewFlagSet("madx serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.store.register(fs, getenv)
	fs.StringVar(&c.addr, "addr", envOr(getenv, "MADX_ADDR", "127.0.0.1:8080"), "listen address (MADX_ADDR)")
	fs.StringVar(&c.basePath, "base-path", envOr(getenv, "MADX_BASE_PATH", server.DefaultBasePath), "path of the FHIR base (MADX_BASE_PATH)")
	fs.StringVar(&c.baseURL, "base-url", getenv("MADX_BASE_URL"), "public URL of the FHIR base, for Location headers and links; default http://ADDR/BASE-PATH (MADX_BASE_URL)")
	fs.Int64Var(&c.maxBody, "max-body", envInt(getenv, "MADX_MAX_BODY", server.DefaultMaxBody), "largest request body in bytes (MADX_MAX_BODY)")
	fs.IntVar(&c.maxBundleEntries, "max-bundle-entries", int(envInt(getenv, "MADX_MAX_BUNDLE_ENTRIES", server.DefaultMaxBundleEntries)), "most entries in one Bundle (MADX_MAX_BUNDLE_ENTRIES)")
	fs.Var(&c.load, "load", "load definitions from this file or directory at start-up; repeatable (MADX_LOAD, comma-separated)")
	fs.StringVar(&c.logLevel, "log-level", envOr(getenv, "MADX_LOG_LEVEL", "info"), "debug, info, warn or error (MADX_LOG_LEVEL)")
	fs.StringVar(&c.terminology, "terminology", envOr(getenv, "MADX_TERMINOLOGY", "lenient"), "lenient: values of a value set that is not stored are accepted with a warning; strict: rejected (MADX_TERMINOLOGY)")
	fs.StringVar(&c.subjectCheck, "subject-check", envOr(getenv, "MADX_SUBJECT_CHECK", "on"), "on: reports must come from a known Location; off: accept any subject (MADX_SUBJECT_CHECK)")
	asyncRetention, err := time.ParseDuration(envOr(getenv, "MADX_ASYNC_RETENTION", "24h"))
	if err != nil {
		return fmt.Errorf("%w: MADX_ASYNC_RETENTION: %v", errUsage, err)
	}
	fs.DurationVar(&c.asyncRetention, "async-retention", asyncRetention, "how long results of asynchronous submissions stay readable (MADX_ASYNC_RETENTION)")
	fs.IntVar(&c.gcPercent, "gc-percent", int(envInt(getenv, "MADX_GC_PERCENT", defaultGCPercent)), "Go garbage collector target (as GOGC; GOGC, when set, wins) (MADX_GC_PERCENT)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may run after SIGINT/SIGTERM")
	c.security.register(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if v := getenv("MADX_LOAD"); v != "" && len(c.load) == 0 {
		c.load = strings.Split(v, ",")
	}
	log, err := newLogger(stderr, c.logLevel)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(c.gcPercent)
	}
	hopts := handlerOptions{maxBody: c.maxBody, maxBundleEntries: c.maxBundleEntries, asyncRetention: c.asyncRetention}
	switch c.terminology {
	case "lenient":
	case "strict":
		hopts.validation.StrictTerminology = true
	default:
		return fmt.Errorf("%w: --terminology is %q; expected lenient or strict", errUsage, c.terminology)
	}
	switch c.subjectCheck {
	case "on":
	case "off":
		// Deliberately spelled out: switching the check off must not happen by accident.
		hopts.validation.SkipSubjectCheck = true
		log.Warn().Msg("--subject-check=off: reports from facilities that are not in the registry are accepted")
	default:
		return fmt.Errorf("%w: --subject-check is %q; expected on or off", errUsage, c.subjectCheck)
	}

	if hopts.security, err = c.security.options(c.addr, log); err != nil {
		return err
	}
	tlsConfig, err := c.security.tlsConfig()
	if err != nil {
		return err
	}

	st, err := c.store.open(ctx, log)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error().Err(err).Msg("closing the store")
		}
	}()

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	defer ln.Close()
	if c.baseURL == "" {
		c.baseURL = map[bool]string{true: "https://", false: "http://"}[tlsConfig != nil] + ln.Addr().String() + "/" + strings.Trim(c.basePath, "/")
	}
	hopts.baseURL, hopts.basePath = c.baseURL, c.basePath
	h, err := newHandler(st, log, hopts)
	if err != nil {
		return err
	}
	// Asynchronous submissions run beside the listener and stop with it;
	// pending ones (from before a restart) are resumed here.
	asyncCtx, stopAsync := context.WithCancel(context.Background())
	defer stopAsync()
	h.StartAsync(asyncCtx, 2)
	if len(c.load) > 0 {
		l := &loader{sender{client: inprocess.Client(h.Internal("serve --load")), base: c.baseURL, out: stdout}}
		if err := l.loadPaths(ctx, c.load); err != nil {
			return fmt.Errorf("--load: %w", err)
		}
	}

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.security.headerTimeout,
		TLSConfig:         tlsConfig,
		ReadTimeout:       5 * time.Minute, // a 32 MiB Bundle over a slow rural link
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "") // certificates are in TLSConfig; ServeTLS adds HTTP/2
			return
		}
		errc <- srv.Serve(ln)
	}()
	log.Info().Str("addr", ln.Addr().String()).Str("base_url", c.baseURL).Msg("madx serving")

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	stopAsync()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info().Msg("stopped")
	return nil
}
