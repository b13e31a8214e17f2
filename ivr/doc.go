// Package ivr is qualdial's qualification-script engine.
//
// A script is a YAML document (see DESIGN.md and README.md) that names the
// caller, offers an opt-out key, asks questions answered with phone keys, adds
// points per dimension (budget, authority, need, timeline…) and classifies the
// lead with expressions over those points.
//
// The package has three parts:
//
//   - [Parse] loads a script and validates it statically. Every problem is a
//     [Diagnostic] that names the file and line, so marketers can fix scripts
//     without reading code.
//   - [Engine] runs a parsed script. It is deterministic and pure: no I/O, no
//     clock and no goroutines. [Engine.Start] gives the first [Turn] (what to
//     say, how many keys to collect, how long to wait); [Engine.Next] takes the
//     [State] and the caller's [Input] (keys, timeout or hang-up) and gives the
//     next turn. State is a small JSON-serialisable value, so a webhook-driven
//     driver can store it between turns.
//   - [Engine.Result] scores a finished (or abandoned) run: answers, points per
//     dimension, total, class, route, SLA, and an explanation of how the class
//     was reached.
//
// Telephony drivers, timers and storage live elsewhere; this package only
// decides what happens next.
package ivr
