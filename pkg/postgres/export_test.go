package postgres

// For the writer benchmark's plain-COPY baseline: the same columns and row values as CommitBatch.
var (
	PositionColumns = positionCols
	PositionRow     = positionRow
)
