// S3 buckets -> objects (ListObjectsV2), download (a signed GetObject into a blob URL)
// and upload (PutObject).

import { el, errorBox, link, main, show, table } from "../dom.js";

export async function bucketsView(aws) {
  const buckets = await aws.listBuckets();
  show(el("section", { class: "panel" }, el("h2", {}, "S3 buckets"),
    buckets.length === 0 ? el("p", {}, "No buckets.") :
      table(["Name", "Created"], buckets.map((b) => [link(`/s3/${encodeURIComponent(b.name)}`, b.name, { class: "bucket-link" }), b.created]))));
}

export async function objectsView(aws, bucket) {
  const objects = await aws.listObjects(bucket);
  const file = el("input", { type: "file", id: "upload-file" });
  const prefix = el("input", { id: "upload-prefix", placeholder: "key prefix, e.g. dir/" });
  const uploaded = el("p", { id: "upload-result" });
  const upload = el("button", { id: "upload" }, "Upload");
  upload.addEventListener("click", async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      const key = prefix.value + chosen.name;
      await aws.putObject(bucket, key, new Uint8Array(await chosen.arrayBuffer()), chosen.type);
      uploaded.replaceChildren(`Uploaded ${key}`);
      await objectsView(aws, bucket); // the listing, with the new object
    } catch (error) {
      uploaded.replaceChildren(errorBox(error));
    }
  });
  show(el("section", { class: "panel" }, el("h3", {}, "Upload"),
    el("label", {}, "Key prefix", prefix), el("label", {}, "File", file), upload, uploaded),
  el("section", { class: "panel" }, el("h2", {}, `s3://${bucket}`),
    objects.length === 0 ? el("p", {}, "No objects.") :
      table(["Key", "Size (bytes)", "Last modified", ""], objects.map((o) => [o.key, o.size, o.modified,
        el("button", { class: "download", onclick: () => download(aws, bucket, o.key) }, "Download")]))));
}

async function download(aws, bucket, key) {
  try {
    const blob = await aws.getObject(bucket, key);
    const url = URL.createObjectURL(blob);
    const anchor = el("a", { href: url, download: key.split("/").pop() || "object" });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    main.prepend(errorBox(error));
  }
}
