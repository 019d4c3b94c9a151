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
	conn             connConfig
	forward          forwardConfig
}

// connConfig bounds connections (docs/security.md, "Limits against abuse").
type connConfig struct {
	maxConns, maxConnsPerAddr int
	maxHeaderBytes            int
	minBodyRate               int64
	bodyRateWindow            time.Duration
	writeTimeout, idleTimeout time.Duration
}

func (c *connConfig) register(fs *flag.FlagSet, getenv func(string) string) error {
	fs.IntVar(&c.maxConns, "max-connections", int(envInt(getenv, "MADX_MAX_CONNECTIONS", defaultMaxConnections)), "open connections at most, lowered to fit the file-descriptor limit; beyond it new ones are reset; 0: no cap (MADX_MAX_CONNECTIONS)")
	fs.IntVar(&c.maxConnsPerAddr, "max-connections-per-address", int(envInt(getenv, "MADX_MAX_CONNECTIONS_PER_ADDRESS", defaultMaxConnectionsPerAddr)), "open connections from one client address at most; beyond it new ones are reset; 0: no cap (MADX_MAX_CONNECTIONS_PER_ADDRESS)")
	fs.IntVar(&c.maxHeaderBytes, "max-header-bytes", int(envInt(getenv, "MADX_MAX_HEADER_BYTES", server.DefaultMaxHeaderBytes)), "largest request line and headers in bytes; 431 beyond (MADX_MAX_HEADER_BYTES)")
	fs.Int64Var(&c.minBodyRate, "min-body-rate", envInt(getenv, "MADX_MIN_BODY_RATE", server.DefaultMinBodyRate), "slowest request body in bytes per second, averaged over --body-rate-window; 408 below it; negative: no minimum (MADX_MIN_BODY_RATE)")
	for _, d := range []struct {
		p          *time.Duration
		name, env  string
		def, usage string
	}{
		{&c.bodyRateWindow, "body-rate-window", "MADX_BODY_RATE_WINDOW", server.DefaultBodyRateWindow.String(), "each window must bring --min-body-rate × window bytes of a request body"},
		{&c.writeTimeout, "write-timeout", "MADX_WRITE_TIMEOUT", "5m", "time to write an answer, from the end of the request headers"},
		{&c.idleTimeout, "idle-timeout", "MADX_IDLE_TIMEOUT", "2m", "how long an idle keep-alive connection is kept"},
	} {
		v, err := time.ParseDuration(envOr(getenv, d.env, d.def))
		if err != nil {
			return fmt.Errorf("%w: %s: %v", errUsage, d.env, err)
		}
		fs.DurationVar(d.p, d.name, v, d.usage+" ("+d.env+")")
	}
	return nil
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
	if err := c.conn.register(fs, getenv); err != nil {
		return err
	}
	if err := c.forward.register(fs, getenv); err != nil {
		return err
	}
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
	hopts := handlerOptions{maxBody: c.maxBody, maxBundleEntries: c.maxBundleEntries, asyncRetention: c.asyncRetention,
		maxHeaderBytes: c.conn.maxHeaderBytes, bodyRate: server.BodyRate{Min: c.conn.minBodyRate, Window: c.conn.bodyRateWindow}}
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

	if hopts.forwarding, err = c.forward.options(getenv); err != nil {
		return err
	}
	for _, d := range hopts.forwarding.Destinations {
		// The URL and filters only: credentials are never logged.
		log.Info().Str("destination", d.Name).Str("kind", d.Kind).Str("url", d.URL).Strs("measures", d.Measures).Strs("locations", d.Locations).Msg("forwarding accepted reports")
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

	tcp, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	defer tcp.Close()
	if fit, lowered := fitConnections(c.conn.maxConns); lowered {
		log.Warn().Int("max_connections", fit).Int("asked", c.conn.maxConns).Msg("--max-connections lowered to fit the file-descriptor limit (ulimit -n)")
		c.conn.maxConns = fit
	}
	ln := newCapListener(tcp, c.conn.maxConns, c.conn.maxConnsPerAddr, log)
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
	h.StartForwarding(asyncCtx)
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
		// No ReadTimeout: a total deadline either cuts off an honest 32 MiB
		// Bundle over a slow rural link or lets a stalled client hold the
		// connection for minutes; the server enforces --min-body-rate instead.
		WriteTimeout: c.conn.writeTimeout,
		IdleTimeout:  c.conn.idleTimeout,
		// madx answers headers above --max-header-bytes with a 431
		// OperationOutcome; net/http's own plain-text 431 is for twice that.
		MaxHeaderBytes: 2 * c.conn.maxHeaderBytes,
		ErrorLog:       nil,
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
