// DynamoDB tables -> key schema and items (Scan, 50 a page).

import { el, link, show, table } from "../dom.js";

export async function tablesView(aws) {
  const names = [];
  let start;
  do {
    const page = await aws.dynamodb("ListTables", start ? { ExclusiveStartTableName: start } : {});
    names.push(...page.TableNames);
    start = page.LastEvaluatedTableName;
  } while (start);
  show(el("section", { class: "panel" }, el("h2", {}, `DynamoDB tables (${aws.region})`),
    names.length === 0 ? el("p", {}, "No tables in this region.") :
      table(["Table"], names.map((n) => [link(`/dynamodb/${encodeURIComponent(n)}`, n, { class: "table-link" })]))));
}

// An attribute value as plain text: strings and numbers as they are, the rest as JSON.
function attributeText(value) {
  if ("S" in value) return value.S;
  if ("N" in value) return value.N;
  if ("BOOL" in value) return String(value.BOOL);
  if ("NULL" in value) return "null";
  return JSON.stringify(value);
}

export async function itemsView(aws, name) {
  const { Table } = await aws.dynamodb("DescribeTable", { TableName: name });
  const keys = Table.KeySchema.map((k) => k.AttributeName);
  const pages = [undefined]; // the ExclusiveStartKey of each page seen
  const holder = el("div", { id: "items" });
  async function load(index) {
    const payload = { TableName: name, Limit: 50 };
    if (pages[index]) payload.ExclusiveStartKey = pages[index];
    const page = await aws.dynamodb("Scan", payload);
    if (page.LastEvaluatedKey) pages[index + 1] = page.LastEvaluatedKey;
    const names = [...keys];
    for (const item of page.Items) for (const attr of Object.keys(item)) if (!names.includes(attr)) names.push(attr);
    const more = page.LastEvaluatedKey
      ? el("button", { id: "next-page", onclick: () => load(index + 1).catch((e) => holder.replaceChildren(errorBox(e))) }, "Next page")
      : null;
    holder.replaceChildren(
      page.Items.length === 0 ? el("p", {}, "No items.") :
        table(names, page.Items.map((item) => names.map((n) => (n in item ? attributeText(item[n]) : "")))),
      more);
  }
  show(el("section", { class: "panel" }, el("h2", {}, name),
    table(["Setting", "Value"], [["Key", keys.join(", ")], ["Status", Table.TableStatus],
      ["Item count (approximate)", Table.ItemCount], ["ARN", Table.TableArn]]),
    el("h3", {}, "Items"), holder));
  await load(0);
}
