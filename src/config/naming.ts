/** How a Flamework app names the column that references another table (used to find links by name). */

/** `smol_account` → account_id, smol_account_id; `FlickrPhotos` → photo_id, flickr_photo_id, photos_id...: names a column referencing the table's key would have. */
export function referenceNames(table: string, key: string): string[] {
  const words = table
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/_+/)
    .filter((w) => w.length > 0);
  const out = new Set<string>();
  for (let i = 0; i < words.length; i++) {
    const tail = words.slice(i);
    const last = tail[tail.length - 1]!;
    const singular = last.endsWith('ies') ? `${last.slice(0, -3)}y` : last.endsWith('s') && !last.endsWith('ss') ? last.slice(0, -1) : last;
    for (const w of new Set([last, singular])) out.add([...tail.slice(0, -1), w, key.toLowerCase()].join('_'));
  }
  return [...out];
}
