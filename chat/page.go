package chat

import "strconv"

// MaxPageNumber bounds page numbers so offsets can never overflow.
const MaxPageNumber = 1 << 30

// Page is a 1-based page of Size items, newest first.
type Page struct {
	Number int
	Size   int
}

// Start and Stop are the inclusive rank range of the page, counted from the
// newest item.
func (p Page) Start() int64 { return int64(p.Number-1) * int64(p.Size) }

// Stop is the last rank of the page.
func (p Page) Stop() int64 { return p.Start() + int64(p.Size) - 1 }

// TotalPages is how many pages of p.Size hold total items.
func (p Page) TotalPages(total int64) int64 {
	return (total + int64(p.Size) - 1) / int64(p.Size)
}

// ParsePage reads the page and page-size query values ("" = default). The
// size defaults to def and may not exceed max; anything that is not a
// positive integer in range is Invalid.
func ParsePage(page, size string, def, max int) (Page, error) {
	const op = "chat.ParsePage"
	p := Page{Number: 1, Size: def}
	if page != "" {
		n, err := strconv.Atoi(page)
		if err != nil || n < 1 || n > MaxPageNumber {
			return Page{}, E(op, Invalid, `"page" must be an integer from 1 to `+strconv.Itoa(MaxPageNumber), err)
		}
		p.Number = n
	}
	if size != "" {
		n, err := strconv.Atoi(size)
		if err != nil || n < 1 || n > max {
			return Page{}, E(op, Invalid, `"limit" must be an integer from 1 to `+strconv.Itoa(max), err)
		}
		p.Size = n
	}
	return p, nil
}
