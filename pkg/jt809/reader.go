package jt809

import (
	"bufio"
	"io"
)

// FrameReader splits a byte stream into frames. Bytes outside 0x5B ... 0x5D are skipped; a
// 0x5B inside a frame starts a new frame (the broken one is dropped); a frame longer than
// MaxFrame is dropped up to its end. Memory stays bounded by MaxFrame whatever the peer sends.
type FrameReader struct {
	r       *bufio.Reader
	buf     []byte
	Skipped int // bytes dropped so far (garbage, broken or oversized frames)
}

// NewFrameReader reads frames from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 4096)}
}

// Next returns the next frame, flags included; the slice is valid until the next call.
// It returns the reader's error (io.EOF at a clean end).
func (f *FrameReader) Next() ([]byte, error) {
	in := false
	over := false
	f.buf = f.buf[:0]
	for {
		b, err := f.r.ReadByte()
		if err != nil {
			f.Skipped += len(f.buf)
			return nil, err
		}
		switch {
		case b == HeadFlag:
			f.Skipped += len(f.buf)
			f.buf = append(f.buf[:0], b)
			in, over = true, false
		case !in:
			f.Skipped++
		case b == TailFlag:
			if over {
				in, over = false, false
				f.buf = f.buf[:0]
				continue
			}
			f.buf = append(f.buf, b)
			return f.buf, nil
		case over:
			f.Skipped++
		case len(f.buf) >= MaxFrame-1:
			f.Skipped += len(f.buf) + 1
			f.buf = f.buf[:0]
			over = true
		default:
			f.buf = append(f.buf, b)
		}
	}
}
