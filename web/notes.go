package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/qualdial/qualdial/store"
)

// noteFormLimit bounds the note form's body: a note of
// store.MaxNoteLength characters, each up to 4 bytes, percent-encoded.
const noteFormLimit = 32 << 10

// addNote records a note on a lead (POST /leads/{id}/note), by anyone who
// may see its page, as an event of kind lead.note by the user; the note
// then shows on the lead's timeline. An empty or too long note, or one
// with control characters, is the lead page saying why (422).
func (s *Server) addNote(w http.ResponseWriter, r *http.Request, u *store.User) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.notFoundFor(w, r, u)
		return nil
	}
	if !readForm(w, r, noteFormLimit) {
		return nil
	}
	l, err := s.visibleLead(w, r, u, id)
	if l == nil {
		return err
	}
	if l.Erased() {
		return s.showLead(w, r, u, id, http.StatusConflict, "This person was erased: a note would bring personal data back.")
	}
	text := strings.TrimSpace(strings.ReplaceAll(r.PostForm.Get("text"), "\r\n", "\n"))
	if msg := noteProblem(text); msg != "" {
		return s.showLead(w, r, u, id, http.StatusUnprocessableEntity, msg)
	}
	if err := s.store.AddNote(r.Context(), id, u.ID, text); err != nil {
		return fmt.Errorf("note on lead %d: %w", id, err)
	}
	s.flash(r, "Note added to the timeline.")
	http.Redirect(w, r, "/leads/"+strconv.FormatInt(id, 10)+"#h-events", http.StatusSeeOther)
	return nil
}

// noteProblem says what is wrong with a note's text, "" when nothing.
func noteProblem(text string) string {
	switch n := utf8.RuneCountInString(text); {
	case text == "":
		return "The note is empty: write something to add."
	case !utf8.ValidString(text):
		return "The note is not valid UTF-8 text."
	case n > store.MaxNoteLength:
		return fmt.Sprintf("The note has %d characters; the limit is %d: shorten it.", n, store.MaxNoteLength)
	case strings.IndexFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		return "The note holds control characters: write plain text (line breaks are fine)."
	}
	return ""
}
