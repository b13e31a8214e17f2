package main

import (
	"context"
	"log/slog"

	"github.com/qualdial/qualdial/internal/requestid"
)

// quietRiver is a slog.Handler that lowers River's INFO records to DEBUG.
// River logs through a logger with subsystem=river (see package queue) and
// reports producer job counts and each maintenance run at INFO, which
// drowns a service's log. Records with an error (River reports failed and
// panicked jobs at INFO, and nothing else logs them), warnings and errors
// keep their level.
type quietRiver struct {
	slog.Handler
	river bool // this logger carries subsystem=river (or component=river)
}

func (h quietRiver) Handle(ctx context.Context, r slog.Record) error {
	if h.river && r.Level >= slog.LevelInfo && r.Level < slog.LevelWarn && !hasError(r) {
		r.Level = slog.LevelDebug
		if !h.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func hasError(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == "error"
		return !found
	})
	return found
}

func (h quietRiver) WithAttrs(attrs []slog.Attr) slog.Handler {
	river := h.river
	for _, a := range attrs {
		river = river || ((a.Key == "component" || a.Key == "subsystem") && a.Value.String() == "river")
	}
	return quietRiver{Handler: h.Handler.WithAttrs(attrs), river: river}
}

func (h quietRiver) WithGroup(name string) slog.Handler {
	return quietRiver{Handler: h.Handler.WithGroup(name), river: h.river}
}

// requestAttrs is a slog.Handler that adds the request id of the record's
// context (see internal/requestid) to every line logged while serving a
// request.
type requestAttrs struct{ slog.Handler }

func (h requestAttrs) Handle(ctx context.Context, r slog.Record) error {
	if id := requestid.From(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestAttrs{h.Handler.WithAttrs(attrs)}
}

func (h requestAttrs) WithGroup(name string) slog.Handler {
	return requestAttrs{h.Handler.WithGroup(name)}
}
