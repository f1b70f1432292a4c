"""HDR interval logs: reading, exact merging across loaders, percentiles and series.

``log``        reading interval logs into columns (tags kept apart, timestamps resolved)
``codec``      decoding compressed V2 payloads, many at a time, with numpy
``encoding``   writing them as Java does
``layout``     HDR bucket layouts: index/value math, exact conversion to a coarser one
``histogram``  a merged histogram with the unit of its values; Java's percentiles
``batch``      one batch of intervals decoded and added by tag and by series point
``pipeline``   the merge of a step: window, batches, loaders' counts, series
``workers``    worker processes for large merges, and reading logs in them
``merge``      the step result built from the loaders' logs (the entry point)
``series``     per-second throughput and p99
``tags``       which merged histograms a tag feeds, which tags count operations
``window``     the measured window
"""
