//! Reading a stream a batch of documents at a time, a large one in pieces on all cores.

use std::cmp::Reverse;
use std::ops::Range;

use rayon::prelude::*;

use super::parse::{ALIAS_EXPANSION_LIMIT, Document, Keep, ParseError, Reader};
use super::text::{Text, document_start_from};

/// How many pieces a batch read in pieces is cut into per core: enough for a core with more
/// work on the batch before to read less of this one, few enough that each piece is worth
/// reading alone.
const PIECES_PER_CORE: usize = 8;

/// Reads the documents of a stream, with their comments, a batch at a time, so that a caller can
/// handle each batch and drop it before the next is built.
///
/// Read [`Batches::in_pieces`], a batch is cut at its document starts into pieces parsed at once
/// on the cores of the current rayon pool, and the documents are given exactly as a whole
/// reading gives them: spans and positions in the whole text, anchors numbered through the
/// stream, the alias-bomb limit over the stream. Only directives (`%YAML`, `%TAG`) reach from one
/// document to the next, and a piece that ends with directives does not parse alone. When a
/// piece does not parse, or the aliases of the stream reach the limit, the rest is read whole
/// from the start of the stream, past the documents already given, so that an error is the one,
/// and where, a whole reading finds.
pub struct Batches<'t, 'a> {
    text: &'t Text<'a>,
    /// Reads the rest whole, when set.
    whole: Option<Reader<'t, 'a>>,
    /// Which documents to build, as [`Reader::building_only`] says.
    filter: Option<(&'static str, &'t Keep<'t>)>,
    /// The threads a batch is read on: one, or those of the current rayon pool.
    threads: usize,
    /// How many documents were given.
    given: usize,
    /// Where the next piece starts, at a document start.
    next: usize,
    /// The id the next anchor gets, as a whole reading numbers them.
    next_anchor: usize,
    /// How many nodes the aliases read so far stand for.
    aliased: u64,
    /// The comments read after the last document given: they belong to the next one.
    comments: Vec<Range<usize>>,
}

/// The documents of one batch, in order, with the threads that read them.
///
/// A tree is best dropped on the thread that built it: glibc's allocator locks the arena of
/// another thread to free its memory, and the threads then wait on each other. With trees
/// dropped on any thread, the 50 MB stream took 5,000 to 8,000 context switches on two cores
/// (about 830 since); so a caller on many cores fixes and drops the documents a thread read on
/// that thread.
pub struct Batch<'a> {
    /// The documents, in order.
    pub documents: Vec<Document<'a>>,
    /// Which thread of the pool read the documents (0 for batches read on one), in runs in
    /// order: `(thread, how many documents)`.
    pub read_on: Vec<(usize, usize)>,
}

/// What a thread does before it reads a piece of a batch, called on it with its index: once or
/// more per batch on each thread that reads some of it, not at all on a thread busy elsewhere.
pub type BeforeReading<'f> = dyn Fn(usize) + Sync + 'f;

/// The documents of one piece of a stream, read alone.
struct Piece<'a> {
    documents: Vec<Document<'a>>,
    /// The comments after its last document.
    trailing: Vec<Range<usize>>,
    /// How many anchors it defines.
    anchors: usize,
    /// How many nodes its aliases stand for.
    aliased: u64,
}

impl<'t, 'a> Batches<'t, 'a> {
    /// Batches of the documents of `text`, read in order.
    pub fn new(text: &'t Text<'a>) -> Self {
        Batches {
            text,
            whole: Some(reader(text, None, 0..text.source.len())),
            filter: None,
            threads: 1,
            given: 0,
            next: 0,
            next_anchor: 1,
            aliased: 0,
            comments: Vec::new(),
        }
    }

    /// These batches, building the tree of a document only when `keep` accepts the value of
    /// its root's `key` entry, as [`Reader::building_only`] does.
    pub fn building_only(mut self, key: &'static str, keep: &'t Keep<'t>) -> Self {
        self.filter = Some((key, keep));
        self.whole = self.whole.map(|reader| reader.building_only(key, keep));
        self
    }

    /// These batches, read in pieces on the cores of the current rayon pool (see [`Batches`]).
    pub fn in_pieces(mut self) -> Self {
        self.whole = None;
        self.threads = rayon::current_num_threads();
        self
    }

    /// Whether the first batch of `bytes` holds every document: read whole, a batch ends only
    /// once its documents span `bytes`, and the spans of a text shorter than that, which lie
    /// apart, never do.
    pub fn all_in_first(&self, bytes: usize) -> bool {
        self.whole.is_some() && self.given == 0 && self.text.source.len() < bytes
    }

    /// How many threads a batch is read on: the threads [`Batch::read_on`] names are below it.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The next documents, until they span `bytes` of the text (less near the end, read in
    /// pieces) or the stream ends (none then), or the error that ends the stream. Each thread
    /// that reads runs `before` first (see [`BeforeReading`]), whatever the outcome: the work it
    /// is given on the documents of the batch before. A batch read whole is read on the calling
    /// thread.
    pub fn next_batch(
        &mut self,
        bytes: usize,
        before: &BeforeReading<'_>,
    ) -> Result<Batch<'a>, ParseError> {
        let mut before = before;
        loop {
            let read = match &mut self.whole {
                Some(reader) => {
                    let thread = thread_of(self.threads);
                    before(thread);
                    let documents = read_whole(reader, bytes)?;
                    let read_on = vec![(thread, documents.len())];
                    Some(Batch { documents, read_on })
                }
                None => self.read_pieces(bytes, before),
            };
            // Each thread's work was handed out with the first try.
            before = &|_| {};
            let Some(batch) = read else {
                self.read_whole_from_here()?;
                continue;
            };
            // Pieces of comments alone give no document: only a whole reading that gives none
            // has reached the end.
            let unread = self.whole.is_none() && self.next < self.text.source.len();
            if batch.documents.is_empty() && unread {
                continue;
            }
            self.given += batch.documents.len();
            return Ok(batch);
        }
    }

    /// The text the documents are read from.
    pub fn text(&self) -> &'t Text<'a> {
        self.text
    }

    /// The comments after the last document (or of a stream with none), once every document
    /// was read.
    pub fn take_trailing_comments(&mut self) -> Vec<Range<usize>> {
        match &mut self.whole {
            Some(reader) => reader.take_trailing_comments(),
            None => std::mem::take(&mut self.comments),
        }
    }

    /// The next batch read in pieces, each thread running `before` before it reads one; `None`
    /// when a piece does not parse or the aliases of the stream reach the limit.
    fn read_pieces(&mut self, bytes: usize, before: &BeforeReading<'_>) -> Option<Batch<'a>> {
        let source = self.text.source;
        // No batch follows the last one, so the work on its documents is not carried by the
        // reading of another: it is done on the calling thread alone. Near the end, a batch
        // spans at most half of what is left, down to a sixteenth of `bytes`, so that the last
        // is small (on two cores, a 2 MiB last batch kept one waiting 35 ms).
        let left = source.len() - self.next;
        let bytes = bytes.min((left / 2).max(bytes / 16)).max(1);
        let end = document_start_from(source, self.next + bytes);
        let piece_bytes = (end - self.next).div_ceil(PIECES_PER_CORE * self.threads);
        let mut cuts = vec![self.next];
        while let Some(&start) = cuts.last().filter(|&&start| start < end) {
            cuts.push(document_start_from(source, start + piece_bytes).min(end));
        }
        let (text, filter, threads) = (self.text, self.filter, self.threads);
        let ranges: Vec<Range<usize>> = cuts.windows(2).map(|cut| cut[0]..cut[1]).collect();
        // The cores wait at the end of a batch for its last piece. So the pieces are read
        // largest first, and the small ones fill in around them. A piece holding one large
        // document (a 1 MB CustomResourceDefinition takes 15 ms) is often the batch's
        // largest; read last, it kept the other cores waiting that long.
        // Each piece is a task of its own: rayon would otherwise hand out runs of them, and
        // a run read last kept the others waiting as long. On two cores, the 50 MB stream's
        // batches left the cores idle 180-240 ms in all, 85 ms now: `fix --dry-run` takes 7%
        // less time.
        let mut largest_first: Vec<usize> = (0..ranges.len()).collect();
        largest_first.sort_by_key(|&piece| Reverse(ranges[piece].len()));
        let mut by_piece: Vec<_> = largest_first
            .into_par_iter()
            .with_max_len(1)
            .map(|piece| {
                let thread = thread_of(threads);
                before(thread);
                let read = read_piece(text, ranges[piece].clone(), filter);
                (piece, (thread, read))
            })
            .collect();
        by_piece.sort_unstable_by_key(|&(piece, _)| piece);
        let pieces = by_piece.into_iter().map(|(_, read)| read);
        let mut documents = Vec::new();
        let mut read_on = Vec::with_capacity(pieces.len());
        for (thread, piece) in pieces {
            let piece = piece.ok()?;
            self.aliased = self.aliased.saturating_add(piece.aliased);
            if self.aliased > ALIAS_EXPANSION_LIMIT {
                return None;
            }
            let shift = self.next_anchor - 1;
            self.next_anchor += piece.anchors;
            read_on.push((thread, piece.documents.len()));
            for mut document in piece.documents {
                if shift > 0 && !document.anchor_names.is_empty() {
                    document.root.shift_anchors(shift);
                    document.anchor_names = (document.anchor_names.into_iter())
                        .map(|(id, name)| (id + shift, name))
                        .collect();
                }
                if !self.comments.is_empty() {
                    let mut comments = std::mem::take(&mut self.comments);
                    comments.append(&mut document.comments);
                    document.comments = comments;
                }
                documents.push(document);
            }
            self.comments.extend(piece.trailing);
        }
        self.next = end;
        Some(Batch { documents, read_on })
    }

    /// Switches to reading the rest whole: a reader from the start of the stream, past the
    /// documents already given (or the error found before them).
    fn read_whole_from_here(&mut self) -> Result<(), ParseError> {
        let mut reader = reader(self.text, self.filter, 0..self.text.source.len());
        for _ in 0..self.given {
            reader.next().transpose()?;
        }
        self.comments.clear();
        self.whole = Some(reader);
        Ok(())
    }
}

/// The index of the thread this runs on among `threads` threads of the current rayon pool (0
/// when there is one).
fn thread_of(threads: usize) -> usize {
    rayon::current_thread_index()
        .filter(|&thread| thread < threads)
        .unwrap_or(0)
}

/// The next documents of `reader`, until they span `bytes` of the text or the stream ends.
fn read_whole<'a>(
    reader: &mut Reader<'_, 'a>,
    bytes: usize,
) -> Result<Vec<Document<'a>>, ParseError> {
    let mut batch = Vec::new();
    let mut read = 0;
    while read < bytes {
        let Some(document) = reader.next().transpose()? else {
            break;
        };
        read += document.root.end() - document.root.full_start();
        batch.push(document);
    }
    Ok(batch)
}

/// The documents of `piece` of `text`, read alone.
fn read_piece<'a>(
    text: &Text<'a>,
    piece: Range<usize>,
    filter: Option<(&'static str, &Keep<'_>)>,
) -> Result<Piece<'a>, ParseError> {
    let mut reader = reader(text, filter, piece);
    let documents = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok(Piece {
        documents,
        trailing: reader.take_trailing_comments(),
        anchors: reader.anchors_read(),
        aliased: reader.aliased(),
    })
}

/// A reader of the documents of `piece` of `text`, with their comments, building those `filter`
/// accepts.
fn reader<'t, 'a>(
    text: &'t Text<'a>,
    filter: Option<(&'static str, &'t Keep<'t>)>,
    piece: Range<usize>,
) -> Reader<'t, 'a> {
    let reader = Reader::over(text, piece, true);
    match filter {
        Some((key, keep)) => reader.building_only(key, keep),
        None => reader,
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::tests::alias_ladder;
    use super::*;

    /// What a reading gives, in a form to compare: each document (its tree, its comments, its
    /// anchor names in order, whether it was built) and the comments after the last; or the
    /// error.
    fn reading(text: &Text<'_>, batches: Option<usize>) -> Result<String, ParseError> {
        let keep = |kind: &str| kind != "ConfigMap";
        let mut documents = Vec::new();
        let trailing = match batches {
            None => {
                let mut reader = Reader::new(text, true).building_only("kind", &keep);
                documents = reader.by_ref().collect::<Result<_, _>>()?;
                reader.take_trailing_comments()
            }
            Some(bytes) => {
                // Three cores, whatever the machine's, for pieces cut at more than one place.
                let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build();
                let pool = pool.expect("a pool of three threads");
                let mut batches =
                    pool.install(|| Batches::new(text).building_only("kind", &keep).in_pieces());
                loop {
                    let batch = pool.install(|| batches.next_batch(bytes, &|_| {}))?;
                    if batch.documents.is_empty() {
                        break;
                    }
                    let read: usize = batch.read_on.iter().map(|&(_, count)| count).sum();
                    assert_eq!(read, batch.documents.len());
                    documents.extend(batch.documents);
                }
                batches.take_trailing_comments()
            }
        };
        let documents: Vec<String> = documents
            .iter()
            .map(|d| {
                let mut names: Vec<_> = d.anchor_names.iter().collect();
                names.sort();
                format!("{:?} {:?} {names:?} {}", d.root, d.comments, d.built)
            })
            .collect();
        Ok(format!("{documents:#?} {trailing:?}"))
    }

    /// Streams whose documents carry over what a cut could lose: directives, byte order marks,
    /// anchors numbered through the stream, comments between documents, explicit ends, empty
    /// documents.
    const STREAMS: [&str; 9] = [
        "a: 1\n...\n%TAG ! tag:example.com,2000:\n---\nb: !foo 1\n",
        "a: 1\n...\n%YAML 1.1\n---\nb: 1\n",
        "\u{FEFF}a: 1\n...\n\u{FEFF}# c\n---\nb: 1\n",
        "# head\n---\na: &x 1\nb: *x\n# after a\n---\nkind: ConfigMap\nc: &y [1, 2]\n---\nd: &z {e: 1}\nf: *z\ng: &w 2\n# tail\n",
        "a: 1\n...\n# between\n---\nb: &q 2\nc: *q\n...\n---\n---\n# only a comment\n",
        "--- &r\na: 1\n--- |\n  text\n---\n- &s x\n- *s\n",
        "%YAML 1.2\n---\na: &x 1\n---\nb: &y *x\n",
        "",
        "# nothing but comments\n",
    ];

    #[test]
    fn a_stream_read_in_pieces_reads_as_it_does_whole() {
        for source in STREAMS {
            let text = Text::new(source);
            let whole = reading(&text, None);
            for bytes in [1, 20, 60, 1 << 20] {
                assert_eq!(reading(&text, Some(bytes)), whole, "{source:?} in {bytes}");
            }
        }
    }

    #[test]
    fn each_thread_runs_its_work_on_itself_before_it_reads() {
        // The second stream has directives: its pieces do not parse alone, so it is read whole,
        // on the calling thread, from the second batch on.
        for (source, in_pieces) in [
            (STREAMS[3], true),
            (
                "a: 1\n---\nb: 2\n...\n%YAML 1.2\n---\nc: 3\n---\nd: 4\n",
                false,
            ),
        ] {
            let text = Text::new(source);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build();
            let pool = pool.expect("a pool of three threads");
            let mut batches = pool.install(|| Batches::new(&text).in_pieces());
            assert_eq!(batches.threads(), 3);
            loop {
                let ran = std::sync::Mutex::new(Vec::new());
                let record = |thread| {
                    let on = rayon::current_thread_index();
                    ran.lock().unwrap().push((thread, on));
                };
                let batch = pool.install(|| batches.next_batch(10, &record)).unwrap();
                let ran = ran.into_inner().unwrap();
                assert!(
                    ran.iter().all(|&(thread, on)| on == Some(thread)),
                    "{ran:?}"
                );
                for &(thread, documents) in &batch.read_on {
                    assert!(thread < 3);
                    let ran_before = ran.iter().any(|&(t, _)| t == thread);
                    assert!(ran_before || documents == 0 || !in_pieces, "{source:?}");
                }
                if batch.documents.is_empty() {
                    break;
                }
            }
        }
    }

    #[test]
    fn an_error_in_a_piece_is_the_error_of_the_whole_stream() {
        for source in [
            "a: 1\n---\nb: [unclosed\n---\nc: 1\n",
            "a: \"quoted\n---\nb: 1\n",
            "a: 1\n---\nb: *nowhere\n",
            "a: &x 1\n---\nb: *x\n",
        ] {
            let text = Text::new(source);
            let whole = reading(&text, None);
            assert!(whole.is_err(), "{source:?}");
            assert_eq!(reading(&text, Some(1)), whole, "{source:?}");
        }
    }

    #[test]
    fn aliases_count_against_the_limit_over_the_whole_stream() {
        // Each document's aliases stand for 345,562 nodes: the third passes the limit.
        let document = format!("---\n{}top: [*l4, *l4]\n", alias_ladder(4));
        let source = document.repeat(4);
        let text = Text::new(&source);
        let whole = reading(&text, None);
        assert!(
            whole
                .as_ref()
                .is_err_and(|e| e.message.contains("alias bomb"))
        );
        assert_eq!(reading(&text, Some(1)), whole);
        assert!(reading(&Text::new(&document.repeat(2)), Some(1)).is_ok());
    }

    #[test]
    fn a_text_shorter_than_a_batch_is_read_in_its_first() {
        // Documents that span the whole text, comments and markers between them included.
        let source = "# a\n---\na: 1\n--- # b\nb: [1, 2]\n...\n---\nc: |\n  x\n# end\n";
        let text = Text::new(source);
        for bytes in [source.len() + 1, source.len(), 3] {
            let mut batches = Batches::new(&text);
            let all_in_first = batches.all_in_first(bytes);
            assert_eq!(all_in_first, bytes > source.len(), "{bytes}");
            let first = batches.next_batch(bytes, &|_| {}).expect("it parses");
            assert!(!first.documents.is_empty());
            let rest = batches.next_batch(bytes, &|_| {}).expect("it parses");
            assert_eq!(rest.documents.is_empty(), bytes > 3, "{bytes}");
            assert!(!batches.all_in_first(bytes), "asked again after a batch");
        }
        let pieces = Batches::new(&text).in_pieces();
        assert!(!pieces.all_in_first(source.len() + 1));
    }
}
