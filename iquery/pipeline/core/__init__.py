"""Base code every level uses: errors, atomic files, safe ids, the layout, records, faults."""
