/** A seq filter: above `afterSeq`, none of `exceptSeqs` (seqs a user deleted for themselves). */
export const seqsAbove = (
  afterSeq: number,
  exceptSeqs: readonly number[],
): { $gt: number; $nin?: number[] } =>
  exceptSeqs.length === 0 ? { $gt: afterSeq } : { $gt: afterSeq, $nin: [...exceptSeqs] };
