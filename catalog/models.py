"""Domain models of the Cosmic Works data set (products, customers, sales orders).

They accept the original lab's JSON as is (`id` or `_id`, tags with `id` or `_id`), keep unknown
fields, and drop what must never leave the data layer: password hashes and salts, and any vector
computed by someone else's embedding model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

Collection = Literal["products", "customers", "sales"]
COLLECTIONS: tuple[Collection, ...] = ("products", "customers", "sales")

# Keys removed from every incoming document at any depth of the top level: secrets, and vectors
# (ours are computed from the document text by the configured embeddings).
SECRET_KEYS = frozenset({"password", "passwordHash", "password_hash", "hash", "salt"})
VECTOR_KEYS = frozenset({"contentVector", "vector", "embedding", "embeddings", "vectorContent"})


def _strip_secrets(value: Any) -> Any:
    """Remove secret keys from nested dicts/lists (addresses, unknown sub-documents)."""
    if isinstance(value, dict):
        return {
            key: _strip_secrets(item)
            for key, item in value.items()
            if key not in SECRET_KEYS and key not in VECTOR_KEYS
        }
    if isinstance(value, list):
        return [_strip_secrets(item) for item in value]
    return value


class _Document(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, str_strip_whitespace=True)

    id: str = Field(validation_alias=AliasChoices("id", "_id"), min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return _strip_secrets(data)
        return data

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, value: Any) -> Any:
        # MongoDB exports may carry {"$oid": "..."}; plain ints are tolerated too.
        if isinstance(value, dict) and "$oid" in value:
            return str(value["$oid"])
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    def public_dict(self) -> dict[str, Any]:
        """JSON-ready dict for tools and HTTP: no vectors, no secrets, `id` not `_id`."""
        return self.model_dump(mode="json", exclude_none=True)


class Tag(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str | None = Field(None, validation_alias=AliasChoices("id", "_id"))
    name: str


class Product(_Document):
    categoryId: str | None = None
    categoryName: str = Field(min_length=1)
    sku: str = Field(min_length=1)
    name: str = Field(min_length=1)
    description: str = ""
    price: float = Field(ge=0)
    tags: list[Tag] = Field(default_factory=list)


class Address(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    addressLine1: str | None = None
    addressLine2: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    zipCode: str | None = None


class Customer(_Document):
    type: Literal["customer"] = "customer"
    customerId: str | None = None
    title: str | None = None
    firstName: str = ""
    lastName: str = ""
    emailAddress: str | None = None
    phoneNumber: str | None = None
    creationDate: str | None = None
    addresses: list[Address] = Field(default_factory=list)
    salesOrderCount: int | None = None

    @model_validator(mode="after")
    def _default_customer_id(self) -> Customer:
        if not self.customerId:
            self.customerId = self.id
        return self

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.firstName, self.lastName) if part)


class SalesOrderDetail(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    sku: str
    name: str
    price: float = Field(ge=0)
    quantity: int = Field(ge=0)


class SalesOrder(_Document):
    type: Literal["salesOrder"] = "salesOrder"
    customerId: str = Field(min_length=1)
    orderDate: str | None = None
    shipDate: str | None = None
    details: list[SalesOrderDetail] = Field(default_factory=list)

    @property
    def total(self) -> float:
        return round(sum(line.price * line.quantity for line in self.details), 2)


CatalogDocument = Product | Customer | SalesOrder

MODEL_BY_COLLECTION: dict[Collection, type[_Document]] = {
    "products": Product,
    "customers": Customer,
    "sales": SalesOrder,
}
